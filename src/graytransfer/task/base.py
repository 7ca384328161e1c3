"""The task contract the classifier delegates to, and the epoch state of thresholded tasks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import nn
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from graytransfer.task.thresholds import check_rule, choose_thresholds


class Task(ABC):
    """What the outputs of a classifier mean.

    `monitor` is the metric this task's runs are judged by (conf/train.yaml's `monitor.metric`
    interpolates it, so it is named once). Labels are what the data modules yield: int64 class
    indices (N,) for one label per image, int64 (N, L) of 0/1/-1 for several.
    """

    name: str = ""
    #: whether the task keeps decision thresholds (a `thresholds` buffer in the checkpoint)
    thresholded: bool = False

    def __init__(self, monitor: str) -> None:
        self.monitor = monitor

    @abstractmethod
    def outputs(self, num_classes: int) -> int:
        """The head's width for `num_classes` classes (or labels)."""

    @abstractmethod
    def check_data(self, class_names: Sequence[str], labels: torch.Tensor, where: str) -> None:
        """UserError (one line naming the data and what to do) unless the training labels fit."""

    @abstractmethod
    def loss(
        self,
        logits: torch.Tensor,
        labels: torch.Tensor,
        weight: torch.Tensor | None,
        label_smoothing: float,
    ) -> torch.Tensor:
        """The training loss of a batch (`weight`: the data's loss weights, or None)."""

    @abstractmethod
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Probabilities (N, outputs): softmax over classes, or one sigmoid per output."""

    @abstractmethod
    def metrics(self, class_names: Sequence[str], prefix: str) -> nn.Module:
        """A fresh metric state for one stage (`prefix`: `train/`, `val/`, `test/`)."""

    @abstractmethod
    def compute(
        self, metrics: nn.Module, thresholds: torch.Tensor | None, choose: bool
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """The epoch's values (named with the stage prefix) and, when `choose` (validation) and
        the task keeps thresholds, the thresholds chosen on this epoch's scores."""

    def output_names(self, class_names: Sequence[str]) -> list[str]:
        """A name per output column (probabilities, thresholds)."""
        return list(class_names)

    def update(self, metrics: nn.Module, probs: torch.Tensor, labels: torch.Tensor) -> None:
        """Add a batch's probabilities and labels to a stage's metric state."""
        metrics.update(probs, labels)

    def decide(self, probs: torch.Tensor, thresholds: torch.Tensor | None) -> torch.Tensor:
        """The decisions of probabilities (N, outputs): the argmax class index (N,) here; 0/1
        per output (N, outputs) for thresholded tasks."""
        return probs.argmax(dim=-1)


class Scores(Metric):
    """Every probability and target of an epoch (concatenated across DDP ranks on compute)."""

    full_state_update = False

    def __init__(self, prefix: str, names: Sequence[str]) -> None:
        super().__init__()
        self.prefix = prefix
        self.names = list(names)
        self.add_state("probs", default=[], dist_reduce_fx="cat")
        self.add_state("targets", default=[], dist_reduce_fx="cat")

    def update(self, probs: torch.Tensor, targets: torch.Tensor) -> None:
        self.probs.append(probs.detach().float())
        self.targets.append(targets.detach().long())

    def compute(self) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.probs, list) and not self.probs:  # an epoch without batches
            empty = torch.zeros(0, len(self.names))
            return empty, empty.long()
        return dim_zero_cat(self.probs), dim_zero_cat(self.targets)


class ThresholdedTask(Task):
    """A task whose decisions come from per-output thresholds chosen on the validation split
    by `threshold` (`graytransfer.task.thresholds`: max_f1, youden, sensitivity, fixed)."""

    thresholded = True

    def __init__(
        self,
        monitor: str,
        threshold: str = "max_f1",
        target_sensitivity: float = 0.9,
        fixed: float = 0.5,
    ) -> None:
        super().__init__(monitor)
        check_rule(threshold, target_sensitivity, fixed)
        self.threshold = threshold
        self.target_sensitivity = float(target_sensitivity)
        self.fixed = float(fixed)

    def metrics(self, class_names: Sequence[str], prefix: str) -> nn.Module:
        return Scores(prefix, self.output_names(class_names))

    def targets(self, labels: torch.Tensor) -> torch.Tensor:
        """The 0/1/-1 target matrix (N, outputs) of a batch's labels."""
        return labels

    def choose(self, probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        rule = (self.threshold, self.target_sensitivity, self.fixed)
        return choose_thresholds(probs, targets, *rule)

    def update(self, metrics: nn.Module, probs: torch.Tensor, labels: torch.Tensor) -> None:
        metrics.update(probs, self.targets(labels))

    def decide(self, probs: torch.Tensor, thresholds: torch.Tensor | None) -> torch.Tensor:
        """0/1 decisions (N, outputs): `probs >= thresholds`."""
        if thresholds is None:
            thresholds = torch.full((probs.shape[-1],), self.fixed)
        return (probs >= thresholds.to(probs.device)).long()

    def compute(self, metrics, thresholds, choose):
        probs, targets = metrics.compute()
        chosen = self.choose(probs, targets) if choose else None
        used = chosen if chosen is not None else thresholds.cpu()
        values = self.values(probs.cpu(), targets.cpu(), used, metrics.names)
        if metrics.prefix == "train/":  # per-label values for val and test only
            values = {k: v for k, v in values.items() if "/" not in k}
        return {f"{metrics.prefix}{k}": v for k, v in values.items()}, chosen

    @abstractmethod
    def values(
        self,
        probs: torch.Tensor,
        targets: torch.Tensor,
        thresholds: torch.Tensor,
        names: Sequence[str],
    ) -> dict[str, torch.Tensor]:
        """The epoch's metrics (without the stage prefix) at `thresholds`; `names` names the
        outputs (per-label values are `<metric>/<name>`)."""
