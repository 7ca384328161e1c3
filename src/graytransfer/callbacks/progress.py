"""The training progress bar: Lightning's Rich bar showing the loss and the monitored metric only.

Every metric the model logs with `prog_bar=True` (a dozen for a classifier) does not fit on one
line of an 80-column terminal: keys and values wrap onto different lines. The bar therefore shows
the names in `metrics` (in `conf/callbacks/rich_progress_bar.yaml`: the training loss and
`monitor.metric`, named once in `conf/train.yaml`); the full table is the end-of-run summary
(`graytransfer.run.record.print_summary`).

In a file or a pipe (a SLURM log) rich assumes 80 columns; the bar takes
`graytransfer.console.console_width()` instead, as the summary does.

Per batch the bar costs what a step of a fast GPU cannot hide: Lightning's bar reads the logged
values (one host sync each) and re-renders after every batch, and rich redraws `refresh_rate`
times a second in a thread of its own. The shown values are therefore read at most
`metrics_per_second` times a second during training (display only: nothing logged or saved
changes), and the yaml sets a refresh rate a terminal needs, not Lightning's 100 per second.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar

from graytransfer.console import console_width


def shown_metrics(items: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """The entries of `items` named in `names`, in that order. A metric Lightning splits into
    `<name>_step`/`<name>_epoch` (logged on step and epoch) is shown once, under `<name>`: the
    step value while it exists. Names not (yet) logged are left out."""
    shown = {}
    for name in names:
        for key in (name, f"{name}_step", f"{name}_epoch"):
            if key in items:
                shown[name] = items[key]
                break
    return shown


class CompactProgressBar(RichProgressBar):
    """`RichProgressBar` showing only `metrics` (e.g. `[train/loss, val/acc]`); any other
    `RichProgressBar` argument passes through."""

    def __init__(
        self,
        metrics: Sequence[str] = ("train/loss",),
        metrics_per_second: float = 2.0,
        **kwargs: Any,
    ) -> None:
        console_kwargs = dict(kwargs.pop("console_kwargs", None) or {})
        width = console_width()
        if width is not None:
            console_kwargs.setdefault("width", width)
        super().__init__(console_kwargs=console_kwargs, **kwargs)
        self.metrics = tuple(str(name) for name in metrics)
        self.metrics_interval = 1.0 / metrics_per_second if metrics_per_second > 0 else 0.0
        self._in_batch = False
        self._metrics_read = -float("inf")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._in_batch = True
        try:
            super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
        finally:
            self._in_batch = False

    def _update_metrics(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Lightning's update of the shown values, at most `metrics_per_second` times a second
        after a training batch (always at epoch ends and in validation)."""
        now = time.monotonic()
        if self._in_batch and now - self._metrics_read < self.metrics_interval:
            return
        self._metrics_read = now
        super()._update_metrics(trainer, pl_module)

    def get_metrics(
        self, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        return shown_metrics(super().get_metrics(trainer, pl_module), self.metrics)
