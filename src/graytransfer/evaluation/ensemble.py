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
line names the two checkpoints and what differs. Thresholds of a binary or multilabel ensemble:
re-chosen on the out-of-fold predictions when the CV root holds `oof_predictions.csv` (with the
members' rule, `task.threshold` of the stored config), else the mean of the members' thresholds;
`EnsembleModel.thresholds_from` says which.

Imports `model` (rebuilding checkpoints); which run folders make an ensemble is `run`'s business.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from graytransfer.errors import UserError
from graytransfer.evaluation.tta import views_of
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.restore import TrainedModel, load_trained

#: how close to 0 and 1 an averaged probability is kept before it is turned into a logit
EPS = 1e-7


@dataclass(frozen=True)
class EnsembleModel(TrainedModel):
    """A `TrainedModel` averaging `members` (checkpoint paths) over `tta` views; `thresholds_from`
    says where a thresholded task's thresholds came from (None for multiclass)."""

    members: tuple[Path, ...] = ()
    tta: tuple[str, ...] = ()
    thresholds_from: str | None = None

    def describe(self) -> dict[str, Any]:
        """What metrics.json and the export sidecar record about the averaging."""
        return {
            "members": [str(p) for p in self.members],
            "tta": list(self.tta),
            "averages": "probabilities",
            "thresholds": self.thresholds,
            "thresholds_from": self.thresholds_from,
        }


class AveragedClassifier(GrayscaleClassifier):
    """The members' probabilities on every view, averaged; a `GrayscaleClassifier` for
    `Trainer.test` (its test step, metrics and loss run unchanged on `forward`'s logits)."""

    def __init__(
        self,
        members: Sequence[GrayscaleClassifier],
        views: Sequence[str] = (),
        thresholds: torch.Tensor | None = None,
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

        self.eval_losses = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        self.register_buffer("thresholds", thresholds)
        self.register_buffer("loss_weights", None, persistent=False)
        self.eval()

    @property
    def input_adapter(self) -> nn.Module:
        """The first member's input module (all members take the same input dtype)."""
        return self.members[0].input_adapter

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
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
        """Logits whose task probabilities are the averaged ones (see the module docstring)."""
        return to_logits(self.task.name, self.probabilities(images))

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
    is the averaged probabilities, decided by argmax or at the ensemble's thresholds."""
    outputs = len(trained.output_names)
    if trained.thresholds is None:
        decision = "argmax(probabilities)"
    else:
        decision = "probabilities >= thresholds"
    return {
        "output": {"name": "probabilities", "shape": ["N", outputs]},
        "decision": decision,
        "ensemble": trained.describe(),
    }


def to_logits(task: str, probs: torch.Tensor) -> torch.Tensor:
    """The logits of probabilities: log p (softmax gives p back: they sum to 1), or logit p per
    output (sigmoid gives p back); p kept within [EPS, 1 - EPS]."""
    if task == "multiclass":
        return probs.clamp_min(EPS).log()
    p = probs.clamp(EPS, 1 - EPS)
    return p.log() - (-p).log1p()


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


def ensemble_thresholds(
    members: Sequence[TrainedModel], oof: Path | None
) -> tuple[torch.Tensor | None, str | None]:
    """The ensemble's thresholds (None for multiclass) and where they came from: re-chosen on the
    out-of-fold predictions `oof` when that file exists, else the members' mean."""
    first = members[0]
    if first.thresholds is None:
        return None, None
    if oof is not None and oof.is_file():
        probs, targets = read_oof(oof, first)
        chosen = first.model.task.choose(torch.from_numpy(probs), torch.from_numpy(targets))
        rule = first.model.task.threshold
        return chosen.float(), f"re-chosen on the out-of-fold predictions '{oof}' ({rule})"
    mean = torch.tensor([m.thresholds for m in members], dtype=torch.float32).mean(dim=0)
    if len(members) == 1:
        return mean, "the checkpoint's"
    return mean, "the mean of the members' thresholds"


def read_oof(path: Path, trained: TrainedModel) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, outputs) and 0/1/-1 targets (N, outputs) of `oof_predictions.csv`
    (predictions.csv's columns: binary `label`, multilabel one per label; `p_<name>`)."""
    names = trained.output_names
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    truth = ["label"] if trained.task == "binary" else names
    wanted = [*truth, *(f"p_{n}" for n in names)]
    missing = [c for c in wanted if rows and c not in rows[0]]
    if not rows or missing:
        raise UserError(
            f"'{path}': {'no rows' if not rows else f'no column {missing[0]}'}; it must hold the "
            f"out-of-fold predictions of these checkpoints (outputs {names})"
        )
    probs = np.array([[float(r[f"p_{n}"]) for n in names] for r in rows], dtype=np.float32)
    targets = np.array([[int(float(r[c])) for c in truth] for r in rows], dtype=np.int64)
    return probs, targets


def ensemble_of(
    paths: Sequence[Path],
    tta: Sequence[str] = (),
    oof: Path | None = None,
    source: Path | None = None,
) -> TrainedModel:
    """The model of the checkpoints `paths` averaged over `tta` views (see the module docstring):
    one checkpoint without views loads unchanged; `oof` is the out-of-fold predictions file of a
    CV folder (thresholds re-chosen on it), `source` what the ensemble was named by (the folder)."""
    if len(paths) == 1 and not tta and source is None:
        return load_trained(paths[0])
    members = [load_trained(p) for p in paths]
    check_agree(members)
    thresholds, chosen_from = ensemble_thresholds(members, oof)
    model = AveragedClassifier([m.model for m in members], tta, thresholds)
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
        thresholds_from=chosen_from,
    )
