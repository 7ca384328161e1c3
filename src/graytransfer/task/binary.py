"""Two classes, one logit: the probability of the positive class and a chosen operating point."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from graytransfer.errors import UserError
from graytransfer.task.base import ThresholdedTask
from graytransfer.task.metrics import per_output_metrics


class BinaryTask(ThresholdedTask):
    """One logit for the positive class (the second class in sorted order, e.g. `pneumonia`
    after `normal`), BCE (`data.balance=loss`: `pos_weight` = negatives / positives).

    Metrics: `{stage}/auroc`, `/ap`, and at the threshold `/acc`, `/f1`, `/sensitivity`,
    `/specificity`, `/balanced_acc`. Labels stay class indices 0/1.
    """

    name = "binary"

    def __init__(
        self,
        monitor: str = "val/auroc",
        threshold: str = "youden",
        target_sensitivity: float = 0.9,
        fixed: float = 0.5,
    ) -> None:
        super().__init__(monitor, threshold, target_sensitivity, fixed)

    def outputs(self, num_classes: int) -> int:
        return 1

    def check_data(self, class_names: Sequence[str], labels: torch.Tensor, where: str) -> None:
        if labels.ndim != 1:
            raise UserError(
                f"task=binary: {where} gives {labels.shape[1]} labels per image; set "
                "task=multilabel"
            )
        if len(class_names) != 2:
            raise UserError(
                f"task=binary: {where} has {len(class_names)} classes {list(class_names)}, not 2: "
                "set task=multiclass, or keep two classes"
            )

    def output_names(self, class_names: Sequence[str]) -> list[str]:
        return [str(class_names[-1])]

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        return labels.reshape(-1, 1)

    def loss(self, logits, labels, weight, label_smoothing):
        pos_weight = None if weight is None else weight[-1:] / weight[:1].clamp(min=1e-12)
        target = labels.reshape(-1, 1).to(logits.dtype)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.sigmoid()

    def values(self, probs, targets, thresholds, names):
        per = {k: v[0] for k, v in per_output_metrics(probs, targets, thresholds).items()}
        decided = (probs[:, 0] >= thresholds[0]).long()
        return {
            "auroc": per["auroc"],
            "ap": per["ap"],
            "acc": (decided == targets[:, 0]).float().mean(),
            "f1": per["f1"],
            "sensitivity": per["sensitivity"],
            "specificity": per["specificity"],
            "balanced_acc": (per["sensitivity"] + per["specificity"]) / 2,
            "prevalence": per["prevalence"],
        }
