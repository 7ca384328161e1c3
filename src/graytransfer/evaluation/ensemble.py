"""Ensembles of checkpoints (and test-time augmentation): one model that averages probabilities.

`ckpt_path` of evaluate, predict, export and compare may be one checkpoint, a list of them
(`ckpt_path=[a.ckpt,b.ckpt]`) or a folder: a CV sweep's root, whose fold run folders each give
their best checkpoint (`graytransfer.run.checkpoints.load_model` resolves the name into paths and
calls `ensemble_of` here). `ensemble_of(paths, tta, oof)` returns a `TrainedModel` either way, so
the tools need no second code path:

- one checkpoint and no TTA: `graytransfer.model.restore.load_trained`, unchanged;
- otherwise an `EnsembleModel` whose `model` is an `AveragedClassifier`: the probabilities of every
  member on every view (`graytransfer.evaluation.tta`) averaged. Its `forward` returns the logits
  of those averaged probabilities (log p for multiclass, logit p for sigmoid outputs), so that
  the task's own `probabilities`, loss (the NLL of the averaged probabilities) and metrics apply
  unchanged; `probabilities(images)` gives them directly (the exported ensemble graph).

Members must agree on the classes (names and order), image size, task and input dtype; else one
line names the two checkpoints and what differs. With a CV root's `oof_predictions.csv`
(`graytransfer.evaluation.ensemble_fit`): members trained with a calibration get a map of the
same kind re-fitted on the out-of-fold predictions and applied after averaging
(`task.probabilities(to_logits(mean) * scale + bias)`, in the exported graph too), and a binary or
multilabel ensemble's thresholds are re-chosen on those (calibrated) predictions by the members'
rule; without the file each member keeps its own calibration and the thresholds are the members'
mean. `EnsembleModel.describe()` says which (`thresholds_from`, `calibration`).

Imports `model` (rebuilding checkpoints); which run folders make an ensemble is `run`'s business.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from graytransfer.errors import UserError
from graytransfer.evaluation.ensemble_fit import fit_on_oof, to_logits
from graytransfer.evaluation.tta import views_of
from graytransfer.model.classifier import STAGES, GrayscaleClassifier, loss_key
from graytransfer.model.restore import TrainedModel, load_trained


@dataclass(frozen=True)
class EnsembleModel(TrainedModel):
    """A `TrainedModel` averaging `members` (checkpoint paths) over `tta` views; `thresholds_from`
    says where a thresholded task's thresholds came from (None for multiclass), `calibration`
    the map re-fitted on the out-of-fold predictions (`ensemble_fit.oof_record`), or `none` or
    the members' own."""

    members: tuple[Path, ...] = ()
    tta: tuple[str, ...] = ()
    thresholds_from: str | None = None
    calibration: dict[str, Any] | str = "none"

    def describe(self) -> dict[str, Any]:
        """What metrics.json and the export sidecar record about the averaging."""
        return {
            "members": [str(p) for p in self.members],
            "tta": list(self.tta),
            "averages": "probabilities",
            "thresholds": self.thresholds,
            "thresholds_from": self.thresholds_from,
            "calibration": self.calibration,
        }


class AveragedClassifier(GrayscaleClassifier):
    """The members' probabilities on every view, averaged, then through the ensemble's map
    `logits * scale + bias` when one was fitted (`calibration`: (scale, bias); the
    `calibration_scale` and `calibration_bias` buffers, identity without one); a
    `GrayscaleClassifier` for `Trainer.test` (its test step, metrics and loss run unchanged on
    `forward`'s logits)."""

    def __init__(
        self,
        members: Sequence[GrayscaleClassifier],
        views: Sequence[str] = (),
        thresholds: torch.Tensor | None = None,
        calibration: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> None:
        # the LightningModule's __init__, not GrayscaleClassifier's (that one builds a backbone)
        super(GrayscaleClassifier, self).__init__()
        first = members[0]
        self.members = nn.ModuleList(members)
        self.views = list(views)
        self.task = first.task
        self.output_names = list(first.output_names)
        self.strategy_name = "+".join(dict.fromkeys(m.strategy_name for m in members))
        self.hparams["label_smoothing"] = first.hparams.get("label_smoothing", 0.0)
        names = list(first.hparams.get("class_names") or self.output_names)
        self.test_metrics = self.task.metrics(names, "test/")
        self.val_metrics = self.task.metrics(names, "val/")
        self.train_metrics = self.task.metrics(names, "train/")
        from torchmetrics import MeanMetric

        self.stage_losses = nn.ModuleDict({loss_key(stage): MeanMetric() for stage in STAGES})
        self.register_buffer("thresholds", thresholds)
        self.register_buffer("loss_weights", None, persistent=False)
        outputs = len(self.output_names)
        scale, bias = calibration or (torch.ones(outputs), torch.zeros(outputs))
        self.register_buffer("calibration_scale", scale.float().reshape(outputs).clone())
        self.register_buffer("calibration_bias", bias.float().reshape(outputs).clone())
        self.recalibrates = calibration is not None
        self.eval()

    @property
    def input_adapter(self) -> nn.Module:
        """The first member's input module (all members take the same input dtype)."""
        return self.members[0].input_adapter

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, outputs): the mean over members and views of each one's probabilities, through
        the ensemble's map when it has one."""
        if not self.recalibrates:
            return self.mean_probabilities(images)
        return self.task.probabilities(self(images))

    def mean_probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """(N, outputs): the mean over members and views of each one's probabilities."""
        total = None
        count = 0
        for member in self.members:
            for view in views_of(images, self.views):
                probs = member.task.probabilities(member(view))
                total = probs if total is None else total + probs
                count += 1
        return total / count

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Logits whose task probabilities are the averaged ones (see the module docstring),
        through the ensemble's map (`calibrated`: the identity without one)."""
        return self.calibrated(to_logits(self.task.name, self.mean_probabilities(images)))

    def train(self, mode: bool = True) -> AveragedClassifier:
        """Always in eval mode: an ensemble is scored, never trained."""
        return nn.Module.train(self, False)


class ProbabilityGraph(nn.Module):
    """The exported ensemble: stored-dtype (N, 1, H, W) -> the averaged probabilities."""

    def __init__(self, averaged: AveragedClassifier) -> None:
        super().__init__()
        self.averaged = averaged

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.averaged.probabilities(images)


def export_sidecar(trained: EnsembleModel) -> dict[str, Any]:
    """What an exported ensemble's sidecar says instead of a single model's logits: its output
    is the averaged probabilities (through the map re-fitted on the out-of-fold predictions,
    which the graph includes: then `calibration` is that map), decided by argmax or at the
    ensemble's thresholds."""
    outputs = len(trained.output_names)
    if trained.thresholds is None:
        decision = "argmax(probabilities)"
    else:
        decision = "probabilities >= thresholds"
    found: dict[str, Any] = {
        "output": {"name": "probabilities", "shape": ["N", outputs]},
        "decision": decision,
        "ensemble": trained.describe(),
    }
    if isinstance(trained.calibration, dict):
        found["calibration"] = trained.calibration
    return found


def check_agree(
    members: Sequence[TrainedModel],
    key: str = "ckpt_path",
    why: str = "an ensemble's members must agree",
) -> None:
    """One line (`key: ...`) naming two checkpoints and what differs, unless every member has
    the first's classes, image size, task and input dtype."""
    from graytransfer.adapt.mapped import input_spec

    def traits(m: TrainedModel) -> dict[str, Any]:
        return {
            "classes": m.class_names,
            "image size": list(m.image_size),
            "task": m.task,
            "input dtype": str(input_spec(m.model.input_adapter)[0]).removeprefix("torch."),
        }

    first = traits(members[0])
    for other in members[1:]:
        for what, value in traits(other).items():
            if value != first[what]:
                raise UserError(
                    f"{key}: '{members[0].source}' and '{other.source}' differ in {what} "
                    f"({first[what]} vs {value}); {why}"
                )


def ensemble_of(
    paths: Sequence[Path],
    tta: Sequence[str] = (),
    oof: Path | None = None,
    source: Path | None = None,
) -> TrainedModel:
    """The model of the checkpoints `paths` averaged over `tta` views (see the module docstring):
    one checkpoint without views loads unchanged; `oof` is the out-of-fold predictions file of a
    CV folder (calibration and thresholds re-fitted on it: `ensemble_fit.fit_on_oof`), `source`
    what the ensemble was named by (the folder)."""
    if len(paths) == 1 and not tta and source is None:
        return load_trained(paths[0])
    members = [load_trained(p) for p in paths]
    check_agree(members)
    fit = fit_on_oof(members, oof)
    calibration = None if fit.scale is None else (fit.scale, fit.bias)
    model = AveragedClassifier([m.model for m in members], tta, fit.thresholds, calibration)
    first = members[0]
    return EnsembleModel(
        model=model,
        config=first.config,
        class_names=first.class_names,
        image_size=first.image_size,
        model_name="+".join(dict.fromkeys(m.model_name for m in members)),
        strategy=model.strategy_name,
        source=source if source is not None else first.source,
        members=tuple(paths),
        tta=tuple(tta),
        thresholds_from=fit.thresholds_from,
        calibration=fit.record,
    )
