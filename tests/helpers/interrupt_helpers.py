"""Test-only callbacks that interrupt an in-process run the way a signal would, named by
`_target_` in the real config (`+callbacks.x._target_=helpers.interrupt_helpers.X`)."""

from __future__ import annotations

import lightning as L
from lightning.pytorch.utilities.exceptions import SIGTERMException


class SigtermAtEpochStart(L.Callback):
    """At the start of epoch `epoch` (epoch `epoch - 1`'s checkpoints written) raise what
    Lightning raises on a real SIGTERM, so the in-process run stops as a pre-empted one does."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            raise SIGTERMException
