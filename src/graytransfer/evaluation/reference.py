"""The headline test metrics with scikit-learn: the point estimates, and the reference the
bootstrap's fast version (`graytransfer.evaluation.weighted`) is tested against.

Per task (names as in `metrics.json`, after `test/`):
- multiclass: `acc` (accuracy_score), `balanced_acc` (balanced_accuracy_score), `f1` (f1_score,
  macro over the classes present), `auroc` and `ap` (roc_auc_score and average_precision_score,
  one class against the rest, averaged over the classes they are defined for: with every class
  present this is scikit-learn's `multi_class="ovr"` macro AUROC);
- binary: `acc`, `balanced_acc`, `auroc`, `ap`, and at the stored threshold `f1`,
  `sensitivity` (recall_score) and `specificity` (recall_score of the negative class);
- multilabel: `auroc`, `ap`, `f1`, `sensitivity`, `specificity` per label
  (`<metric>_per_label/<label>`, unknown targets left out) and their macro means over the labels
  where they are defined.

A metric that cannot be computed (a single class among the known targets) is NaN.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
    roc_auc_score,
)

from graytransfer.evaluation.predictions import Predictions
from graytransfer.task.multilabel import label_metric

MULTICLASS = ("acc", "balanced_acc", "f1", "auroc", "ap")
BINARY = ("acc", "balanced_acc", "auroc", "ap", "f1", "sensitivity", "specificity")
PER_LABEL = ("auroc", "ap", "f1", "sensitivity", "specificity")
NAN = float("nan")


def headline_names(preds: Predictions) -> list[str]:
    """The metrics `reference_metrics` gives for this task, in order."""
    if preds.task == "multiclass":
        return list(MULTICLASS)
    if preds.task == "binary":
        return list(BINARY)
    per = [label_metric(m, n) for m in PER_LABEL for n in preds.names]
    return [*PER_LABEL, *per]


def reference_metrics(preds: Predictions) -> dict[str, float]:
    """The headline metrics of `preds` with scikit-learn (NaN where undefined)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scikit-learn's single-class warnings: NaN says it
        if preds.task == "multiclass":
            return _multiclass(preds)
        columns = [_column(preds, k) for k in range(len(preds.names))]
        if preds.task == "binary":
            y, d = preds.labels.reshape(-1), preds.decisions[:, 0]
            return {
                "acc": float(accuracy_score(y, d)),
                "balanced_acc": float(balanced_accuracy_score(y, d)),
                **columns[0],
            }
    values = {m: _mean([c[m] for c in columns]) for m in PER_LABEL}
    for metric in PER_LABEL:
        for name, column in zip(preds.names, columns, strict=True):
            values[label_metric(metric, name)] = column[metric]
    return values


def _multiclass(preds: Predictions) -> dict[str, float]:
    y, pred, targets = preds.labels, preds.decisions, preds.targets
    curves = [_curves(targets[:, k], preds.probs[:, k]) for k in range(targets.shape[1])]
    return {
        "acc": float(accuracy_score(y, pred)),
        "balanced_acc": float(balanced_accuracy_score(y, pred)),
        "f1": float(f1_score(y, pred, average="macro")),
        "auroc": _mean([c[0] for c in curves]),
        "ap": _mean([c[1] for c in curves]),
    }


def _column(preds: Predictions, k: int) -> dict[str, float]:
    """AUROC, AP, F1, sensitivity and specificity of output `k` on its known targets."""
    known = preds.targets[:, k] >= 0
    y, p, d = preds.targets[known, k], preds.probs[known, k], preds.decisions[known, k]
    if len(y) == 0:
        return dict.fromkeys(PER_LABEL, NAN)
    auroc, ap = _curves(y, p)
    return {
        "auroc": auroc,
        "ap": ap,
        "f1": float(f1_score(y, d, zero_division=np.nan)),
        "sensitivity": float(recall_score(y, d, pos_label=1, zero_division=np.nan)),
        "specificity": float(recall_score(y, d, pos_label=0, zero_division=np.nan)),
    }


def _curves(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(AUROC, AP) of 0/1 targets `y`: NaN without both classes (AP: without a positive)."""
    positives, negatives = bool((y == 1).any()), bool((y == 0).any())
    auroc = float(roc_auc_score(y, p)) if positives and negatives else NAN
    ap = float(average_precision_score(y, p)) if positives else NAN
    return auroc, ap


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else NAN
