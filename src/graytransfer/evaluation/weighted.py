"""The headline metrics (`graytransfer.evaluation.reference`) of many resamples at once.

A bootstrap resample of N test images is a count per image (how often it was drawn; a group
resample gives every image of a drawn group its group's count). For a matrix of counts
(resamples, N) each metric is computed from weighted sums over the images, so 1000 resamples
cost a few matrix products and cumulative sums per output instead of 1000 calls per metric to
scikit-learn (about 3 ms each here: minutes per run). Each value equals scikit-learn's on the
resampled images (tests/evaluation/test_weighted_metrics.py): AUROC is the Mann-Whitney statistic
with ties counted half (scikit-learn's trapezoidal ROC area), AP is scikit-learn's step sum
`sum_k (R_k - R_{k-1}) P_k` over the distinct scores. NaN marks a value that cannot be computed
on a resample (a single class).

How it stays fast (bench/bootstrap_cost.py): the counts are held image-major (N, resamples), so
picking images copies whole rows; each output's scores are sorted once, positives and negatives
apart, and what a resample changes is only the running sums of its counts in that order (one
cumulative sum each), read at positions found once by binary search. Every sum of counts is a
whole number, exact in float64, so AUROC and the confusion counts do not depend on the order of
summation; AP differs from a blockwise sum only in the last bits.
"""

from __future__ import annotations

import numpy as np

from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import PER_LABEL
from graytransfer.task.multilabel import label_metric

TINY = np.finfo(np.float64).tiny


def weighted_metrics(preds: Predictions, counts: np.ndarray) -> dict[str, np.ndarray]:
    """Each headline metric of `preds` for every row of `counts` (resamples, N): name -> (R,)."""
    by_image = image_major(counts)
    if preds.task == "multiclass":
        return _multiclass(preds, by_image)
    targets = preds.targets
    outputs = targets.shape[1]
    known, y, d = targets >= 0, (targets == 1).astype(float), preds.decisions.astype(float)
    cells = np.stack([d * y, d * (1 - y), (1 - d) * y, (1 - d) * (1 - y)], axis=2)
    cells *= known[:, :, None]  # unknown targets count nowhere
    sums = by_image.T @ cells.reshape(len(targets), 4 * outputs)  # whole numbers: exact
    columns = [
        _column(sums[:, 4 * k : 4 * k + 4], *_auroc_ap(by_image, targets[:, k], preds.probs[:, k]))
        for k in range(outputs)
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


def image_major(counts: np.ndarray) -> np.ndarray:
    """`counts` (resamples, N) as float64 (N, resamples), C-contiguous: one row per image (no
    copy when `counts` is already the transpose of such an array)."""
    return np.ascontiguousarray(np.asarray(counts, dtype=np.float64).T)


def _multiclass(preds: Predictions, by_image: np.ndarray) -> dict[str, np.ndarray]:
    onehot = preds.targets.astype(np.float64)
    classes = onehot.shape[1]
    decided = (preds.decisions[:, None] == np.arange(classes)).astype(np.float64)
    sums = by_image.T @ np.hstack([onehot * decided, onehot, decided])  # (R, 3K), whole numbers
    tp, support, predicted = sums[:, :classes], sums[:, classes:-classes], sums[:, -classes:]
    curves = [_auroc_ap(by_image, onehot[:, k], preds.probs[:, k]) for k in range(classes)]
    return {
        "acc": ratio(tp.sum(axis=1), by_image.sum(axis=0)),
        "balanced_acc": nanmean(ratio(tp, support).T),
        "f1": nanmean(ratio(2 * tp, support + predicted).T),
        "auroc": nanmean(np.stack([c[0] for c in curves])),
        "ap": nanmean(np.stack([c[1] for c in curves])),
    }


def _column(cells: np.ndarray, auroc: np.ndarray, ap: np.ndarray) -> dict[str, np.ndarray]:
    """One output's AUROC, AP, F1, sensitivity, specificity (and its counts tp, fp, fn, tn)
    from its weighted confusion counts `cells` (R, 4: tp, fp, fn, tn)."""
    tp, fp, fn, tn = cells.T
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
    """Weighted AUROC and AP (R,) of 0/1 `targets` ranked by `scores`, for every row of
    `weights` (R, N); NaN where a resample has no positive (AUROC: or no negative)."""
    return _auroc_ap(image_major(weights), np.asarray(targets, dtype=np.float64), scores)


def _auroc_ap(
    by_image: np.ndarray, targets: np.ndarray, scores: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """`auroc_ap` with the weights image-major (N, R).

    The distinct scores of the positives are the levels u_1 < ... < u_m (the thresholds where
    the ROC and precision-recall curves gain recall). One sparse product sums every resample's
    counts per level: the positives at u_t (`pos_t`), the negatives tied with u_t (`tie_t`) and
    the negatives strictly between u_(t-1) and u_t. With `lower_t` the negatives scored below
    u_t and `above_t` the positives scored u_t or higher: AUROC = sum_t pos_t (lower_t +
    tie_t / 2) / (positives * negatives) and AP = sum_t pos_t P_t / positives, with the
    precision P_t = above_t / (above_t + negatives - lower_t)."""
    rows = by_image.shape[1]
    positive, negative = targets == 1, targets == 0  # anything else (-1: unknown) is left out
    if not positive.any():
        return np.full(rows, np.nan), np.full(rows, np.nan)
    levels = np.unique(scores[positive])
    m = len(levels)
    at = np.searchsorted(levels, scores, side="left")  # the first level >= each score
    tied = negative & (at < m) & (levels[np.minimum(at, m - 1)] == scores)
    any_tied = bool(tied.any())
    # sums' rows: [0, m] negatives below level t (m: above every level), then the positives at
    # each level, then (only when a negative shares a positive's score) the tied negatives;
    # the last row gathers the unknown targets and is dropped
    count = 3 * m + 1 if any_tied else 2 * m + 1
    segment = np.where(positive, m + 1 + at, np.where(negative, at, count))
    if any_tied:
        segment[tied] = 2 * m + 1 + at[tied]
    sums = _sum_rows(by_image, segment, count + 1)[:count]
    gaps, pos = sums[: m + 1], sums[m + 1 : 2 * m + 1]
    lower = gaps[:m].copy()
    if any_tied:
        ties = sums[2 * m + 1 :]
        lower[1:] += ties[:-1]
    np.cumsum(lower, axis=0, out=lower)  # (m, R): negatives scored below each level
    above = np.cumsum(pos[::-1], axis=0)[::-1]  # positives scored at or above each level
    positives = above[0]
    negatives = lower[-1] + gaps[m] + (ties[-1] if any_tied else 0.0)
    halves = lower + 0.5 * ties if any_tied else lower
    auroc = ratio(np.einsum("tr,tr->r", pos, halves), positives * negatives)
    flagged = negatives - lower  # + above: everything scored at or above the level
    flagged += above
    np.maximum(flagged, TINY, out=flagged)  # 0 only where above is 0 too: precision 0
    precision = np.divide(above, flagged, out=flagged)
    ap = ratio(np.einsum("tr,tr->r", pos, precision), positives)
    return auroc, ap


def _sum_rows(by_image: np.ndarray, segment: np.ndarray, count: int) -> np.ndarray:
    """(count, R): row s holds the sum of the rows of `by_image` whose `segment` is s (one
    sparse product: every image's counts are read once)."""
    from scipy.sparse import csr_matrix

    n = len(segment)
    order = np.argsort(segment, kind="stable")
    starts = np.zeros(count + 1, dtype=np.int64)
    np.cumsum(np.bincount(segment, minlength=count), out=starts[1:])
    members = csr_matrix((np.ones(n), order, starts), shape=(count, n))
    return np.asarray(members @ by_image)


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
