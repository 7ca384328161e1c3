"""What an ensemble re-fits on a CV folder's out-of-fold predictions: its calibration and its
thresholds (`graytransfer.evaluation.ensemble` applies them).

`oof_predictions.csv` (`graytransfer.run.cv`) holds each image's probabilities from the one fold
model that did not train on it. When the members were trained with `calibration=temperature`,
these are CALIBRATED probabilities, each fold's through its own map: the pipeline fits the map
and rewrites the best checkpoint (`graytransfer.run.calibrate`) before `write_oof` scores the
held-out fold with that checkpoint (tested: a real calibrated fold's OOF file refits to the
identity). So they are what each member contributes to the ensemble's average (its probabilities
through its own calibration buffers), and the ensemble's map is fitted on them as they are:

- calibration, only when every member's stored config has one (`calibration=temperature`; `none`
  is stored as empty): the members' kind of map (`temperature.TemperatureScaling`: multiclass one
  temperature, multilabel one per label, binary Platt's a, b) fitted on `to_logits(OOF
  probabilities)` against the OOF truth, applied AFTER averaging:
  `task.probabilities(to_logits(mean) * scale + bias)`;
- thresholds (binary, multilabel): the members' rule (`task.threshold` of the stored config) on
  the OOF probabilities, calibrated first when a map was fitted (`run.calibrate`'s order);
  without an OOF file the mean of the members' thresholds.

An approximation, as is common: an OOF probability comes from one fold model, the ensemble
averages K of them (averaging makes probabilities less extreme), and TTA views are not in the
file. And as each fold's map was fitted on its own OOF rows, the re-fit only corrects how the
folds' maps differ once pooled: a multiclass re-fit with every fold's T inside the search range
is T = 1 (each fold's NLL is at its minimum already); docs/evaluation.md says it for users.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graytransfer.errors import UserError
from graytransfer.evaluation.temperature import FittedCalibration, TemperatureScaling, describe
from graytransfer.model.restore import TrainedModel

#: how close to 0 and 1 an averaged probability is kept before it is turned into a logit
EPS = 1e-7
NONE = "none"
MEMBERS_OWN = "the members' own (each member's checkpoint calibrates it before averaging)"


def to_logits(task: str, probs: torch.Tensor) -> torch.Tensor:
    """The logits of probabilities: log p (softmax gives p back: they sum to 1), or logit p per
    output (sigmoid gives p back); p kept within [EPS, 1 - EPS]."""
    if task == "multiclass":
        return probs.clamp_min(EPS).log()
    p = probs.clamp(EPS, 1 - EPS)
    return p.log() - (-p).log1p()


@dataclass(frozen=True)
class OofFit:
    """An ensemble's thresholds (None for multiclass) and where they came from, its calibration
    map (`scale`, `bias` per output; None: no map after averaging) and what describe() says
    about calibration (`record`: the fitted map, `NONE` or `MEMBERS_OWN`)."""

    thresholds: torch.Tensor | None
    thresholds_from: str | None
    scale: torch.Tensor | None
    bias: torch.Tensor | None
    record: dict[str, Any] | str


def members_calibrated(members: Sequence[TrainedModel]) -> list[bool]:
    """Per member: whether its stored config has a calibration (not `calibration=none`)."""
    return [bool((m.config or {}).get("calibration")) for m in members]


def fit_on_oof(members: Sequence[TrainedModel], oof: Path | None) -> OofFit:
    """The calibration and thresholds of the ensemble of `members` (module docstring); `oof` is
    the CV folder's out-of-fold predictions file (None, or a missing file: nothing is fitted)."""
    first = members[0]
    task = first.model.task
    calibrated = members_calibrated(members)
    fits = all(calibrated)
    has_oof = oof is not None and oof.is_file()
    if not has_oof or (first.thresholds is None and not fits):
        thresholds, chosen_from = mean_thresholds(members)
        return OofFit(thresholds, chosen_from, None, None, MEMBERS_OWN if any(calibrated) else NONE)
    assert oof is not None
    probs, labels = read_oof(oof, first)
    scale = bias = None
    record: dict[str, Any] | str = MEMBERS_OWN if any(calibrated) else NONE
    which = "out-of-fold predictions"
    if fits:
        logits = to_logits(task.name, torch.from_numpy(probs))
        fitted = TemperatureScaling().fit(task.name, logits.numpy(), labels, first.output_names)
        scale = torch.as_tensor(fitted.scale, dtype=torch.float32)
        bias = torch.as_tensor(fitted.bias, dtype=torch.float32)
        probs = task.probabilities(logits * scale + bias).numpy()
        record = oof_record(fitted, oof)
        which = "calibrated out-of-fold predictions"
    if first.thresholds is None:
        return OofFit(None, None, scale, bias, record)
    chosen = task.choose(torch.from_numpy(probs), torch.from_numpy(labels))
    chosen_from = f"re-chosen on the {which} '{oof}' ({task.threshold})"
    return OofFit(chosen.float(), chosen_from, scale, bias, record)


def oof_record(fitted: FittedCalibration, oof: Path) -> dict[str, Any]:
    """What metrics.json's and the export sidecar's `ensemble.calibration` say about a map
    fitted on the OOF file `oof`: its method and values (`temperature.describe`), where it was
    fitted, the OOF NLL before and after, how it is applied, and `scale` and `bias`."""
    return {
        "method": fitted.method,
        **describe(fitted.task, fitted.scale, fitted.bias, fitted.names),
        "fitted_on": f"the out-of-fold predictions '{oof}'",
        "images": fitted.images,
        "oof_nll_before": fitted.nll_before,
        "oof_nll_after": fitted.nll_after,
        "in_graph": "probabilities = task probabilities of to_logits(mean) * scale + bias, "
        "after averaging the members (each calibrated by its own map)",
        "scale": [float(v) for v in fitted.scale],
        "bias": [float(v) for v in fitted.bias],
    }


def mean_thresholds(members: Sequence[TrainedModel]) -> tuple[torch.Tensor | None, str | None]:
    """The members' mean thresholds (None for multiclass) and where they came from."""
    if members[0].thresholds is None:
        return None, None
    mean = torch.tensor([m.thresholds for m in members], dtype=torch.float32).mean(dim=0)
    if len(members) == 1:
        return mean, "the checkpoint's"
    return mean, "the mean of the members' thresholds"


def read_oof(path: Path, trained: TrainedModel) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (N, outputs) and truth of `oof_predictions.csv` (predictions.csv's columns,
    `graytransfer.evaluation.predictions`): multiclass the `label` class indices (N,); binary
    its `label` and multilabel one column per label, as 0/1/-1 targets (N, outputs)."""
    names = trained.output_names
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    truth = names if trained.task == "multilabel" else ["label"]
    wanted = [*truth, *(f"p_{n}" for n in names)]
    missing = [c for c in wanted if rows and c not in rows[0]]
    if not rows or missing:
        raise UserError(
            f"'{path}': {'no rows' if not rows else f'no column {missing[0]}'}; it must hold the "
            f"out-of-fold predictions of these checkpoints (outputs {names})"
        )
    probs = np.array([[float(r[f"p_{n}"]) for n in names] for r in rows], dtype=np.float32)
    targets = np.array([[int(float(r[c])) for c in truth] for r in rows], dtype=np.int64)
    if trained.task != "multiclass":
        return probs, targets
    labels = targets[:, 0]
    bad = labels[(labels < 0) | (labels >= len(names))]
    if len(bad):
        raise UserError(
            f"'{path}': label {int(bad[0])} is not a class index of these checkpoints "
            f"(0..{len(names) - 1}); it must hold their out-of-fold predictions"
        )
    return probs, labels
