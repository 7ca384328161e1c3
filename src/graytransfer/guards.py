"""Guards that turn silent failures into one clear message: a diverging loss, a finished run's
folder about to be overwritten, an image size the backbone cannot take."""

from __future__ import annotations

import json
import math
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from graytransfer.errors import UserError

FINISHED_MARKER = "metrics.json"


class LossNotFinite(UserError):
    """The training loss became NaN or infinite; the run stopped before the bad update."""


class NanGuard(L.Callback):
    """Stops training when the loss is NaN or infinite, *before* the backward pass and the
    optimizer step, so the weights stay finite and the checkpoints on disk stay the last good ones.
    Raises `LossNotFinite` naming the epoch, the step and the last good checkpoint. Under DDP
    all ranks stop when any rank's loss is not finite."""

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        value = float(loss.detach())
        # every rank decides together, or a NaN on one rank would leave the others waiting
        if not trainer.strategy.reduce_boolean_decision(not math.isfinite(value), all=False):
            return
        callback = trainer.checkpoint_callback
        kept = None
        if isinstance(callback, ModelCheckpoint):
            kept = callback.last_model_path or callback.best_model_path or None
        where = f"kept the last good checkpoint {kept}" if kept else "no checkpoint was saved yet"
        shown = value if not math.isfinite(value) else "nan/inf on another rank"
        raise LossNotFinite(
            f"train/loss became {shown} at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step}; training stopped before the bad update and {where}. Lower "
            "optim.lr, add scheduler warm-up or check the data for broken images"
        )


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
