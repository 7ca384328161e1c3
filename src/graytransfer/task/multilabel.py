"""Several labels per image (chest X-ray findings): one sigmoid per label, BCE, per-label metrics.

Labels are int64 (N, L) of 1 (present), 0 (absent) and -1 (unknown: CheXpert's uncertain labels
under `data.uncertain=ignore`); unknown entries add nothing to the loss and are left out of every
metric. An image with no positive label ("no finding") is an ordinary image.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from graytransfer.errors import UserError
from graytransfer.task.base import ThresholdedTask
from graytransfer.task.metrics import micro_auroc, per_output_metrics


def masked_bce(
    logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean BCE-with-logits over the known (label >= 0) entries; 0 when none is known."""
    known = (labels >= 0).to(logits.dtype)
    losses = F.binary_cross_entropy_with_logits(
        logits, labels.clamp(min=0).to(logits.dtype), pos_weight=pos_weight, reduction="none"
    )
    return (losses * known).sum() / known.sum().clamp(min=1)


def label_metric(metric: str, label: str) -> str:
    """The key of one label's `metric` (after the stage): `auroc_per_label/Effusion`. Not
    `auroc/Effusion`: MLflow's file store keeps `auroc` as a file, which cannot also be the
    folder of `auroc/Effusion` (a multilabel run with logger=mlflow crashed)."""
    return f"{metric}_per_label/{label}"


class MultiLabelTask(ThresholdedTask):
    """Sigmoid + BCE per label (`pos_weight` from `data.balance=loss`: negatives / positives of
    each label in training), unknown labels masked.

    Metrics: `{stage}/auroc` (macro over labels), `/auroc_micro`, `/ap` (macro average
    precision), `/f1` (macro, at the thresholds), and per label `{stage}/auroc_per_label/<label>`,
    `/ap_per_label/<label>`, `/f1_per_label/<label>`, `/prevalence_per_label/<label>`
    (`label_metric`).
    """

    name = "multilabel"

    def __init__(
        self,
        monitor: str = "val/auroc",
        threshold: str = "max_f1",
        target_sensitivity: float = 0.9,
        fixed: float = 0.5,
    ) -> None:
        super().__init__(monitor, threshold, target_sensitivity, fixed)

    def outputs(self, num_classes: int) -> int:
        return num_classes

    def check_data(self, class_names: Sequence[str], labels: torch.Tensor, where: str) -> None:
        if labels.ndim != 2:
            raise UserError(
                f"task=multilabel: {where} gives one label per image; give a CSV with one column "
                "per label (data.label_columns=[...]) or a '|'-separated label column "
                "(data.label_separator='|'), or data=medmnist data.subset=chest"
            )
        positives = (labels == 1).sum(dim=0).tolist()
        never = [name for name, n in zip(class_names, positives, strict=True) if n == 0]
        if never:
            raise UserError(
                f"task=multilabel: label(s) {never} of {where} are never positive in the training "
                "split: add training images with them, or drop the label"
            )

    def loss(self, logits, labels, weight, label_smoothing):
        return masked_bce(logits, labels, weight)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid()

    def values(self, probs, targets, thresholds, names):
        per = per_output_metrics(probs, targets, thresholds)
        values = {
            "auroc": per["auroc"].nanmean(),
            "auroc_micro": micro_auroc(probs, targets),
            "ap": per["ap"].nanmean(),
            "f1": per["f1"].nanmean(),
        }
        for metric in ("auroc", "ap", "f1", "prevalence"):
            for name, value in zip(names, per[metric], strict=True):
                values[label_metric(metric, name)] = value
        return values
