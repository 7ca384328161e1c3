"""Test-only helpers imported by `python train.py` subprocesses (tests/ is put on PYTHONPATH)."""

from __future__ import annotations

import time
from pathlib import Path

import lightning as L


class PauseAfterEpoch(L.Callback):
    """At the end of epoch `epoch` touch `marker` and wait for SIGTERM, so a test can send the
    signal at a known point of a real training process (the epoch's checkpoints are written
    right after this hook, then Lightning stops on the signal)."""

    def __init__(self, marker: str, epoch: int = 0, timeout_s: float = 120.0) -> None:
        self.marker = Path(marker)
        self.epoch = epoch
        self.timeout_s = timeout_s

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch != self.epoch:
            return
        self.marker.write_text(str(trainer.global_step))
        deadline = time.monotonic() + self.timeout_s
        while not trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.05)


class PoisonAfterEpoch(L.Callback):
    """At the start of epoch `epoch + 1` (epoch `epoch`'s checkpoints written) set the classifier's
    bias to NaN, so that step's loss is NaN: a diverged run, made on purpose at a known step."""

    def __init__(self, epoch: int = 0) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch + 1:
            last = [m for m in pl_module.head.modules() if hasattr(m, "bias")][-1]
            last.bias.data.fill_(float("nan"))


class CtrlCAtStep(L.Callback):
    """Raise KeyboardInterrupt (what Ctrl-C raises) after training step `step`, mid-epoch."""

    def __init__(self, step: int = 2) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt
