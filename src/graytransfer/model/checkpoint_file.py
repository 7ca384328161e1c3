"""A checkpoint file, read safely: tensors and plain values only, never pickled code; and the
check that a checkpoint fits the run (model, strategy, classes) about to use it.

A file `torch.load(weights_only=True)` refuses is one of two things, and the message says which
(never torch's own advice to load it with `weights_only=False`): it holds pickled code objects
(`pickled_global` names the class or function), or it is not a checkpoint at all (truncated, or
not a torch file). A `ckpt_path` has no switch to trust pickled code: it must be a checkpoint
written by graytransfer.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import torch

from graytransfer.errors import UserError

#: how torch's weights-only unpickler names a class or function it refuses to import
_REFUSED_GLOBAL = (
    re.compile(r"Unsupported global: GLOBAL (\S+) was not an allowed global"),
    re.compile(r"unsupported GLOBAL (\S+) whose module \S+ is blocked"),
)
#: what a file torch cannot read at all is
NOT_A_CHECKPOINT = "is not a checkpoint (truncated or not a torch file)"


def pickled_global(err: BaseException) -> str | None:
    """The `module.name` of the pickled class or function that made
    `torch.load(weights_only=True)` refuse a file; None when the file is simply unreadable."""
    if not isinstance(err, pickle.UnpicklingError):
        return None
    for pattern in _REFUSED_GLOBAL:
        found = pattern.search(str(err))
        if found:
            return found.group(1)
    return None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a Lightning checkpoint on the CPU (tensors and plain values only,
    `weights_only=True`).

    Raises UserError (one line) when `path` is not a file, holds pickled code objects, is not a
    torch file (truncated, random bytes), or holds no `state_dict`."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"ckpt_path: '{path}' is not a file; give the path of a .ckpt file")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except OSError as err:
        raise UserError(
            f"ckpt_path: '{path}' cannot be read ({type(err).__name__}: {err.strerror or err}); "
            "check its permissions"
        ) from err
    except Exception as err:  # noqa: BLE001 - whatever torch raises, the file is not loadable
        name = pickled_global(err)
        if name is not None:
            raise UserError(
                f"ckpt_path: '{path}' holds pickled code objects (class `{name}`), which "
                "graytransfer never loads: give a checkpoint written by graytransfer (tensors "
                "and plain values only)"
            ) from err
        raise UserError(
            f"ckpt_path: '{path}' {NOT_A_CHECKPOINT}; give a .ckpt written by graytransfer"
        ) from err
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise UserError(f"ckpt_path: '{path}' holds no model state_dict; is it a Lightning .ckpt?")
    return checkpoint


def check_compatible(
    checkpoint: dict[str, Any],
    source: Path,
    model_name: str,
    strategy: str,
    classes: list[str],
    task: str | None = None,
) -> None:
    """The checkpoint must hold the same backbone, strategy, classes and (when `task` is given)
    task as the run using it; a checkpoint without a task is multiclass."""
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
    theirs_task = (checkpoint.get("graytransfer") or {}).get("task") or "multiclass"
    if task is not None and theirs_task != task:
        problems.append(f"task '{theirs_task}', not '{task}'")
    if problems:
        raise UserError(
            f"checkpoint '{source}' was trained with {'; '.join(problems)}: use the model, adapt, "
            "task and data it was trained with, or start a new run without ckpt_path"
        )


def _short(names: list[str]) -> str:
    return str(names if len(names) <= 5 else [*names[:4], "..."])
