"""Guards that turn silent failures into one clear message before a run starts: a finished
run's folder about to be overwritten, an image size the backbone cannot take. (A diverging loss
is caught while training, by `graytransfer.callbacks.nan_guard`.)"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from graytransfer.errors import UserError

FINISHED_MARKER = "metrics.json"


def is_finished(run_dir: Path) -> bool:
    """A run is finished when its `metrics.json` exists and does not record a failure."""
    marker = Path(run_dir) / FINISHED_MARKER
    if not marker.exists():
        return False
    try:
        return json.loads(marker.read_text()).get("status") != "failed"
    except (json.JSONDecodeError, AttributeError):
        return True


def check_not_finished(output_dir: Path) -> None:
    """A folder holding a finished run (its `metrics.json`) is never written into again."""
    marker = Path(output_dir) / FINISHED_MARKER
    if is_finished(output_dir):
        raise UserError(
            f"output folder '{output_dir}' already holds a finished run ({marker.name}); it is "
            "never overwritten: leave hydra.run.dir unset for a new folder or pick another one"
        )


def check_input_size(model: torch.nn.Module, size: tuple[int, int], model_name: str) -> None:
    """Run one blank uint8 image of `size` (H, W) through `model` and fail clearly if the
    backbone cannot take it (fixed-size transformers, sizes below what the stem can reduce)."""
    height, width = size
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            blank = torch.zeros(1, 1, height, width, dtype=torch.uint8)
            if all(hasattr(model, part) for part in ("input_adapter", "backbone", "head")):
                # the plain path: never trigger a `finetune.compile` compilation for this probe
                model.head(model.backbone.forward_features(model.input_adapter(blank)))
            else:
                model(blank)
    except (RuntimeError, ValueError, AssertionError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"data.image_size {[height, width]} is too small or the wrong shape for model "
            f"'{model_name}' ({reason}); use data.image_size=native (the model's own size) or a "
            "larger size"
        ) from err
    finally:
        model.train(was_training)
