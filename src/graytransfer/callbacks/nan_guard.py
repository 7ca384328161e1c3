"""Stop a run whose model diverges, before the bad state reaches the weights or a checkpoint."""

from __future__ import annotations

import math

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from graytransfer.errors import LossNotFinite

#: what the user can do about a diverging run (never "turn the guard off")
ADVICE = "Lower optim.lr, add scheduler warm-up or check the data for broken images"


def first_non_finite(module: torch.nn.Module) -> str | None:
    """The name of the first floating-point parameter or buffer of `module` holding a NaN or an
    infinity, or None when all are finite."""
    named = [
        (name, tensor.detach())
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]
        if tensor.is_floating_point()
    ]
    if not named:
        return None
    device = named[0][1].device
    if any(tensor.device != device for _, tensor in named):  # spread over devices: one by one
        flags = [bool(torch.isfinite(tensor).all()) for _, tensor in named]
    else:  # one host sync for the whole model, not one per tensor
        flags = torch.stack([torch.isfinite(tensor).all() for _, tensor in named]).tolist()
    return next((name for (name, _), finite in zip(named, flags, strict=True) if not finite), None)


def kept_checkpoint(trainer: L.Trainer) -> str:
    """How the run's checkpoints stand: the last good one kept, or none saved yet."""
    callback = trainer.checkpoint_callback
    kept = None
    if isinstance(callback, ModelCheckpoint):
        kept = callback.last_model_path or callback.best_model_path or None
    return f"kept the last good checkpoint {kept}" if kept else "no checkpoint was saved yet"


class NanGuard(L.Callback):
    """Stops training when the model diverges, raising `LossNotFinite` naming the epoch, the step,
    what went non-finite and the last good checkpoint:

    - a NaN/inf training loss, *before* the backward pass and the optimizer step;
    - after each validation and each training epoch (before the checkpoint callback, which
      Lightning always runs last, saves): a NaN/inf validation loss, or any parameter or buffer
      (BatchNorm running statistics included) that is not finite.

    Under DDP all ranks stop when any rank sees a non-finite value."""

    def on_before_backward(
        self, trainer: L.Trainer, pl_module: L.LightningModule, loss: torch.Tensor
    ) -> None:
        value = float(loss.detach())
        # every rank decides together, or a NaN on one rank would leave the others waiting
        if not trainer.strategy.reduce_boolean_decision(not math.isfinite(value), all=False):
            return
        shown = value if not math.isfinite(value) else "nan/inf on another rank"
        raise LossNotFinite(
            f"train/loss became {shown} at epoch {trainer.current_epoch}, step "
            f"{trainer.global_step}; training stopped before the bad update and "
            f"{kept_checkpoint(trainer)}. {ADVICE}"
        )

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit" and not trainer.sanity_checking:
            self._check_model(trainer, pl_module, check_val_loss=True)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._check_model(trainer, pl_module, check_val_loss=False)

    def _check_model(
        self, trainer: L.Trainer, pl_module: L.LightningModule, check_val_loss: bool
    ) -> None:
        what = None
        val_loss = trainer.callback_metrics.get("val/loss")
        if check_val_loss and val_loss is not None and not math.isfinite(float(val_loss)):
            what = f"val/loss became {float(val_loss)}"
        if what is None:
            name = first_non_finite(pl_module)
            if name is not None:
                what = f"{name} holds NaN/inf values"
        if not trainer.strategy.reduce_boolean_decision(what is not None, all=False):
            return
        raise LossNotFinite(
            f"the model diverged at epoch {trainer.current_epoch}, step {trainer.global_step} "
            f"({what or 'NaN/inf on another rank'}); training stopped without saving it and "
            f"{kept_checkpoint(trainer)}. {ADVICE}"
        )
