"""The training progress bar: Lightning's Rich bar showing the loss and the monitored metric only.

Every metric the model logs with `prog_bar=True` (a dozen for a classifier) does not fit on one
line of an 80-column terminal: keys and values wrap onto different lines. The bar therefore shows
the names in `metrics` (in `conf/callbacks/rich_progress_bar.yaml`: the training loss and
`monitor.metric`, named once in `conf/train.yaml`); the full table is the end-of-run summary
(`graytransfer.run.record.print_summary`).

In a file or a pipe (a SLURM log) rich assumes 80 columns; the bar takes
`graytransfer.console.console_width()` instead, as the summary does.
"""

from __future__ import annotations

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

    def __init__(self, metrics: Sequence[str] = ("train/loss",), **kwargs: Any) -> None:
        console_kwargs = dict(kwargs.pop("console_kwargs", None) or {})
        width = console_width()
        if width is not None:
            console_kwargs.setdefault("width", width)
        super().__init__(console_kwargs=console_kwargs, **kwargs)
        self.metrics = tuple(str(name) for name in metrics)

    def get_metrics(
        self, trainer: L.Trainer, pl_module: L.LightningModule
    ) -> dict[str, int | str | float | dict[str, float]]:
        return shown_metrics(super().get_metrics(trainer, pl_module), self.metrics)
