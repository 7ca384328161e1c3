"""The headline metrics (`graytransfer.evaluation.reference`) of many resamples at once.

A bootstrap resample of N test images is a count per image (how often it was drawn; a group
resample gives every image of a drawn group its group's count). For a matrix of counts
(resamples, N) each metric is computed from weighted sums over the images, so 1000 resamples
cost a few matrix products and one sort per output instead of 1000 calls per metric to
scikit-learn (about 3 ms each here: minutes per run). Each value equals scikit-learn's on the
resampled images (tests/evaluation/test_weighted.py): AUROC is the Mann-Whitney statistic with
ties counted half (scikit-learn's trapezoidal ROC area), AP is scikit-learn's step sum
`sum_k (R_k - R_{k-1}) P_k` over the distinct scores. NaN marks a value that cannot be computed
on a resample (a single class).
"""

from __future__ import annotations

import numpy as np

from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import PER_LABEL
from graytransfer.task.multilabel import label_metric


def weighted_metrics(preds: Predictions, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Each headline metric of `preds` for every row of `counts` (resamples, N): name -> (R,)."""
    weights = np.asarray(counts, dtype=np.float64)
    if preds.task == "multiclass":
        return _multiclass(preds, weights)
    targets, decisions = preds.targets, preds.decisions
    columns = [
        _column(weights, targets[:, k], preds.probs[:, k], decisions[:, k])
        for k in range(targets.shape[1])
    ]
    if preds.task == "binary":
        tp, fp, fn, tn = (columns[0].pop(k) for k in ("tp", "fp", "fn", "tn"))
        sensitivity, specificity = columns[0]["sensitivity"], columns[0]["specificity"]
        return {
            "acc": ratio(tp + tn, tp + fp + fn + tn),
            "balanced_acc": nanmean(np.stack([sensitivity, specificity])),
            **columns[0],
        }
    values = {m: nanmean(np.stack([c[m] for c in columns])) for m in PER_LABEL}
    for metric in PER_LABEL:
        for name, column in zip(preds.names, columns, strict=True):
            values[label_metric(metric, name)] = column[metric]
    return values


def _multiclass(preds: Predictions, weights: np.ndarray) -> dict[str, np.ndarray]:
    onehot = preds.targets.astype(np.float64)
    decided = (preds.decisions[:, None] == np.arange(onehot.shape[1])).astype(np.float64)
    tp = weights @ (onehot * decided)  # (R, K)
    support, predicted = weights @ onehot, weights @ decided
    curves = [auroc_ap(weights, onehot[:, k], preds.probs[:, k]) for k in range(onehot.shape[1])]
    return {
        "acc": ratio(tp.sum(axis=1), weights.sum(axis=1)),
        "balanced_acc": nanmean(ratio(tp, support).T),
        "f1": nanmean(ratio(2 * tp, support + predicted).T),
        "auroc": nanmean(np.stack([c[0] for c in curves])),
        "ap": nanmean(np.stack([c[1] for c in curves])),
    }


def _column(
    weights: np.ndarray, targets: np.ndarray, probs: np.ndarray, decisions: np.ndarray
) -> dict[str, np.ndarray]:
    """One output's AUROC, AP, F1, sensitivity, specificity (and its counts tp, fp, fn, tn) on
    its known targets."""
    known = targets >= 0
    w, y, d = weights[:, known], targets[known].astype(np.float64), decisions[known]
    tp, fp = w @ (d * y), w @ (d * (1 - y))
    fn, tn = w @ ((1 - d) * y), w @ ((1 - d) * (1 - y))
    auroc, ap = auroc_ap(w, y, probs[known])
    return {
        "auroc": auroc,
        "ap": ap,
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def auroc_ap(
    weights: np.ndarray, targets: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted AUROC and AP (R,) of 0/1 `targets` ranked by `scores`; NaN where a resample has
    no positive (AUROC: or no negative)."""
    rows = weights.shape[0]
    if len(scores) == 0:
        return np.full(rows, np.nan), np.full(rows, np.nan)
    order = np.argsort(-scores, kind="stable")
    ranked = scores[order]
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])  # one block per score
    w, y = weights[:, order], targets[order]
    pos = np.add.reduceat(w * y, starts, axis=1)  # (R, distinct scores), highest first
    neg = np.add.reduceat(w * (1 - y), starts, axis=1)
    tp, fp = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    positives, negatives = tp[:, -1], fp[:, -1]
    below = negatives[:, None] - fp  # negatives scored strictly lower than each block
    pairs = (pos * (below + 0.5 * neg)).sum(axis=1)
    auroc = ratio(pairs, positives * negatives)
    precision = np.where(tp + fp > 0, tp / np.where(tp + fp > 0, tp + fp, 1), 0.0)
    ap = ratio((pos * precision).sum(axis=1), positives)
    return auroc, ap


def ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0."""
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    safe = np.where(denominator > 0, denominator, 1.0)
    return np.where(denominator > 0, numerator / safe, np.nan)


def nanmean(values: np.ndarray) -> np.ndarray:
    """The mean over axis 0 of the finite values; NaN where none is (no numpy warning)."""
    finite = np.isfinite(values)
    count = finite.sum(axis=0)
    total = np.where(finite, values, 0.0).sum(axis=0)
    return ratio(total, count)
