"""A checkpoint file, read safely: tensors and plain values only, never pickled code; and the
check that a checkpoint fits the run (model, strategy, classes) about to use it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from graytransfer.errors import UserError


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint on the CPU (tensors only, `weights_only=True`)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"ckpt_path: '{path}' is not a file; give the path of a .ckpt file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unreadable file gets the same answer
        raise UserError(
            f"ckpt_path: '{path}' is not a readable checkpoint ({type(err).__name__}: "
            f"{str(err).splitlines()[0] if str(err) else ''}); give a .ckpt written by graytransfer"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path: '{path}' holds no model state_dict; is it a Lightning .ckpt?")
    return checkpoint


def check_compatible(
    checkpoint: dict[str, Any], source: Path, model_name: str, strategy: str, classes: list[str]
) -> None:
    """The checkpoint must hold the same backbone, strategy and classes as the run using it."""
    hparams = checkpoint.get("hyper_parameters") or {}
    config = hparams.get("config") or {}
    theirs_model = (config.get("model") or {}).get("name")
    theirs_strategy = (checkpoint.get("graytransfer") or {}).get("strategy")
    theirs_classes = list(hparams.get("class_names") or [])
    problems = []
    if theirs_model and theirs_model != model_name:
        problems.append(f"model '{theirs_model}', not '{model_name}'")
    if theirs_strategy and theirs_strategy != strategy:
        problems.append(f"adapt '{theirs_strategy}', not '{strategy}'")
    if theirs_classes and theirs_classes != list(classes):
        problems.append(
            f"{len(theirs_classes)} classes {_short(theirs_classes)}, not {len(classes)} "
            f"{_short(classes)}"
        )
    if problems:
        raise UserError(
            f"checkpoint '{source}' was trained with {'; '.join(problems)}: use the model, adapt "
            "and data it was trained with, or start a new run without ckpt_path"
        )


def _short(names: list[str]) -> str:
    return str(names if len(names) <= 5 else [*names[:4], "..."])
