"""Test-only callbacks for run-integrity tests, used through the real config
(`+callbacks.x._target_=helpers.integrity_helpers.X`, tests/ on PYTHONPATH)."""

from __future__ import annotations

import lightning as L
import torch


class PoisonBatchNormAfterEpoch(L.Callback):
    """At the start of epoch `epoch + 1` (epoch `epoch`'s checkpoints written) fill the running
    variance of the model's first BatchNorm with `value`. Training uses batch statistics, so the
    training loss stays finite: a model that diverged where only its buffers show it."""

    def __init__(self, epoch: int = 0, value: float = float("inf")) -> None:
        self.epoch = epoch
        self.value = float(value)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch + 1:
            norm = next(m for m in pl_module.modules() if isinstance(m, torch.nn.BatchNorm2d))
            norm.running_var.fill_(self.value)


class FailCheckpointWrites(L.Callback):
    """From epoch `epoch` on, every checkpoint write fails midway: the serialized checkpoint's
    first half reaches the file, then an OSError (a full disk) is raised."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch:
            return
        checkpoint_io = trainer.strategy.checkpoint_io

        def half_written(checkpoint, path, storage_options=None) -> None:
            import io

            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            data = buffer.getvalue()
            with open(path, "wb") as handle:
                handle.write(data[: len(data) // 2])
            raise OSError(28, "No space left on device (test)", str(path))

        checkpoint_io.save_checkpoint = half_written
