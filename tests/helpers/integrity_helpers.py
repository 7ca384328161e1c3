"""Test-only callbacks for run-integrity tests, used through the real config
(`+callbacks.x._target_=helpers.integrity_helpers.X`, tests/ on PYTHONPATH)."""

from __future__ import annotations

import errno
import os
import time

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
    """From epoch `epoch` on, every checkpoint write fails midway, as on a full disk: the
    checkpoint is streamed into its file, which is then cut to half its length, and the
    `os.fsync` that would make it durable raises ENOSPC (as fsync does where space is allotted
    late, e.g. NFS). Whatever writes the file, in whichever thread, meets the failure; files
    whose names end otherwise than `.ckpt` or `.partial` fsync as usual."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch
        self._real_fsync = None

    @staticmethod
    def _fails(fd: int) -> bool:
        return os.readlink(f"/proc/self/fd/{fd}").endswith((".ckpt", ".partial"))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch or self._real_fsync is not None:
            return
        trainer.strategy.checkpoint_io.wait()  # epoch `epoch - 1`'s writes end on a good disk
        real_fsync = self._real_fsync = os.fsync

        def full_disk_fsync(fd: int) -> None:
            if not self._fails(fd):
                return real_fsync(fd)
            os.ftruncate(fd, os.fstat(fd).st_size // 2)
            raise OSError(errno.ENOSPC, "No space left on device (test)")

        os.fsync = full_disk_fsync

    def _restore(self) -> None:
        if self._real_fsync is not None:
            os.fsync = self._real_fsync
            self._real_fsync = None

    def on_exception(self, trainer: L.Trainer, pl_module: L.LightningModule, exception) -> None:
        self._restore()

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self._restore()


class SlowWrites:
    """Stands in for `graytransfer.callbacks.checkpoint_io.write_atomically` (monkeypatch it
    there): the real write, `delay` seconds late, so that whatever should wait for a background
    write is seen to."""

    def __init__(self, delay: float) -> None:
        from graytransfer.callbacks import checkpoint_io

        self.delay = delay
        self.real = checkpoint_io.write_atomically

    def __call__(self, data: dict, path) -> None:
        time.sleep(self.delay)
        self.real(data, path)
