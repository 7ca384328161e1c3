"""An exponential moving average of the weights that is also what gets tested
(`callbacks/ema.yaml`)."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights, whose averaged weights are also the ones *tested*.

    Lightning saves the average in a checkpoint's `state_dict` (and the raw weights in
    `current_model_state`), validates with the average, but when the same Trainer later tests a
    checkpoint it reloads the raw weights. Outside fitting this callback leaves the checkpoint's
    `state_dict` in place, so the test scores the weights that were validated and selected.
    """

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
