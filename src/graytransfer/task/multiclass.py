"""One label per image: softmax over the classes, cross-entropy, accuracy/F1/AUROC (the default)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from graytransfer.errors import UserError
from graytransfer.task.base import Task

#: torchmetrics arguments of the per-step metrics: no per-update value checks
UNCHECKED = {"validate_args": False}


def classification_metrics(num_classes: int, prefix: str) -> MetricCollection:
    """Accuracy (micro), macro F1 and macro AUROC, named `{prefix}acc`, `{prefix}f1`, ..."""
    return MetricCollection(
        {
            # validate_args=False: no per-update checks of the values (each a host sync on a
            # GPU); a label out of range already fails the loss, the values stay the same
            "acc": MulticlassAccuracy(num_classes=num_classes, average="micro", **UNCHECKED),
            "f1": MulticlassF1Score(num_classes=num_classes, average="macro", **UNCHECKED),
            "auroc": MulticlassAUROC(num_classes=num_classes, average="macro", **UNCHECKED),
        },
        prefix=prefix,
    )


class MulticlassTask(Task):
    """Softmax + cross-entropy (class weights from `data.balance=loss`, label smoothing);
    `{stage}/acc`, `{stage}/f1` (macro), `{stage}/auroc` (macro); decisions are the argmax."""

    name = "multiclass"

    def __init__(self, monitor: str = "val/acc") -> None:
        super().__init__(monitor)

    def outputs(self, num_classes: int) -> int:
        return num_classes

    def check_data(self, class_names: Sequence[str], labels: torch.Tensor, where: str) -> None:
        if labels.ndim != 1:
            raise UserError(
                f"{where} gives {labels.shape[1]} labels per image ({list(class_names)[:5]}...): "
                "set task=multilabel"
            )

    def loss(self, logits, labels, weight, label_smoothing):
        return F.cross_entropy(logits, labels, weight=weight, label_smoothing=label_smoothing)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.softmax(dim=-1)

    def metrics(self, class_names: Sequence[str], prefix: str) -> MetricCollection:
        return classification_metrics(len(class_names), prefix)

    def compute(self, metrics, thresholds, choose):
        return metrics.compute(), None  # torchmetrics syncs across DDP ranks itself
