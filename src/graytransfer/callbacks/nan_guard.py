"""Stop a run whose loss diverges, before the bad update reaches the weights or a checkpoint."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from graytransfer.errors import UserError


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
