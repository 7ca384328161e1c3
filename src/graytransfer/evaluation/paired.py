"""Two models scored on the same test images: each headline metric for A and B, and the paired
difference B - A with its interval, as a reviewer asks for it.

- The paired bootstrap: each resample draws images (or whole groups, when the data has a group
  column) with replacement, once, and scores A and B on that same resample
  (`graytransfer.evaluation.bootstrap.resample_counts`, `graytransfer.evaluation.weighted`); the
  interval of B - A is the percentile interval of the per-resample differences. Pairing matters:
  A's and B's errors on the same hard images are correlated, so the difference's interval is
  much narrower than the two separate intervals suggest.
- DeLong's test for AUROC (`graytransfer.evaluation.delong`): binary on the positive class,
  multilabel per label (`auroc_per_label/<label>`, its known targets), multiclass per class one
  against the rest (`auroc_ovr/<class>`). The macro AUROC's difference has the bootstrap
  interval only (DeLong is defined for one ROC curve per model).

A metric undefined on a resample for A or B (a single class) is left out of that resample;
`counted` says on how many the difference was computed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import Bootstrap, resample_counts
from graytransfer.evaluation.delong import paired_delong
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import headline_names, reference_metrics
from graytransfer.evaluation.weighted import weighted_metrics
from graytransfer.task.multilabel import label_metric


def check_paired(a: Predictions, b: Predictions) -> None:
    """A and B must score the same images, in the same order, with the same task and outputs."""
    if a.task != b.task or a.names != b.names:
        raise UserError(
            f"b: scores {b.task} outputs {b.names}, a scores {a.task} outputs {a.names}; "
            "compare models of the same task and classes"
        )
    if a.ids != b.ids or not np.array_equal(a.labels, b.labels):
        raise UserError("b: was not scored on the same test images as a (ids or labels differ)")


def paired_bootstrap(
    a: Predictions, b: Predictions, samples: int, seed: int, confidence: float = 0.95
) -> dict[str, dict[str, Any]]:
    """name -> {a, b, diff, diff_ci, counted} for every headline metric: the point values
    (scikit-learn) and the paired percentile interval of B - A (None with no resample)."""
    check_paired(a, b)
    names = headline_names(a)
    point_a, point_b = reference_metrics(a), reference_metrics(b)
    diffs: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for counts in resample_counts(len(a), a.groups, samples, seed):
        on_a, on_b = weighted_metrics(a, counts), weighted_metrics(b, counts)
        for name in names:
            diffs[name].append(on_b[name] - on_a[name])
    tail = (1 - confidence) / 2
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        found = np.concatenate(diffs[name]) if diffs[name] else np.array([])
        found = found[np.isfinite(found)]
        bounds = np.quantile(found, [tail, 1 - tail]).tolist() if len(found) else None
        value_a, value_b = float(point_a[name]), float(point_b[name])
        out[name] = {
            "a": value_a,
            "b": value_b,
            "diff": value_b - value_a,
            "diff_ci": bounds,
            "counted": int(len(found)),
        }
    return out


def delong_tests(a: Predictions, b: Predictions, confidence: float = 0.95) -> dict[str, Any]:
    """DeLong's paired AUROC test per ROC curve (see the module docstring), by metric name."""
    check_paired(a, b)
    targets = a.targets
    if a.task == "binary":
        return {"auroc": paired_delong(a.probs[:, 0], b.probs[:, 0], targets[:, 0], confidence)}
    key = "auroc_ovr/{}" if a.task == "multiclass" else label_metric("auroc", "{}")
    return {
        key.format(name): paired_delong(a.probs[:, k], b.probs[:, k], targets[:, k], confidence)
        for k, name in enumerate(a.names)
    }


def compare_predictions(
    a: Predictions, b: Predictions, bootstrap: Bootstrap, run_seed: int | None
) -> dict[str, Any]:
    """The comparison record: metrics (paired bootstrap), DeLong's tests, how it was made."""
    seed = bootstrap.seed if bootstrap.seed is not None else (run_seed or 0)
    samples = max(int(bootstrap.bootstrap), 0)
    confidence = float(bootstrap.confidence)
    grouped = a.groups is not None
    return {
        "images": len(a),
        "metrics": paired_bootstrap(a, b, samples, seed, confidence),
        "delong": {k: t.record() for k, t in delong_tests(a, b, confidence).items()},
        "bootstrap": {
            "method": "paired percentile bootstrap of B - A (same resamples for both)",
            "over": "groups" if grouped else "images",
            "units": len(set(a.groups)) if grouped else len(a),
            "samples": samples,
            "seed": int(seed),
            "confidence": confidence,
        },
    }
