"""DeLong's test for two correlated AUROCs (DeLong, DeLong & Clarke-Pearson 1988), computed with
the fast algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21(11)): O(n log n) midranks
instead of the O(m n) comparison of every positive with every negative.

The AUROC of scores `s` on m positives X and n negatives Y is the Mann-Whitney statistic
`mean_ij psi(X_i, Y_j)` with `psi = 1, 1/2, 0` for `X > Y, X = Y, X < Y` (scikit-learn's
trapezoidal area). DeLong's structural components are `V10(X_i) = mean_j psi(X_i, Y_j)` and
`V01(Y_j) = mean_i psi(X_i, Y_j)`; for k scorers on the same images the covariance of their AUROCs
is `S10 / m + S01 / n` (the sample covariances of the components). Sun & Xu get the components
from midranks: with `T_Z` the midranks among all m + n scores, `T_X` among the positives and `T_Y`
among the negatives, `V10 = (T_Z[X] - T_X) / n` and `V01 = 1 - (T_Z[Y] - T_Y) / m`.

`paired_delong(a, b, y)` gives the difference `AUROC_b - AUROC_a`, its standard error, the normal
(Wald) 95% interval and the two-sided p-value of `z = diff / se`, as R's `pROC::roc.test(...,
method="delong", paired=TRUE)` reports them. Tested against the brute-force structural components
and the paired bootstrap (tests/evaluation/test_delong.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.stats import norm, rankdata

NAN = float("nan")


@dataclass(frozen=True)
class DelongTest:
    """AUROC of A and of B, the difference B - A, its standard error, `confidence` interval
    (normal) and two-sided p-value; `positives`/`negatives` counted. NaN where undefined (a single
    class, or both scorers identical: se 0)."""

    auroc_a: float
    auroc_b: float
    diff: float
    se: float
    ci: tuple[float, float]
    p_value: float
    positives: int
    negatives: int

    def record(self) -> dict[str, Any]:
        """Plain values for JSON: the fields, `ci` as a list."""
        out = asdict(self)
        out["ci"] = list(self.ci)
        return out


def delong_components(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, ...]:
    """(aurocs (k,), V10 (k, m), V01 (k, n)) of `scores` (k, N) against 0/1 `targets` (N,), from
    midranks (Sun & Xu 2014, Algorithm 1)."""
    s = np.atleast_2d(np.asarray(scores, dtype=np.float64))
    y = np.asarray(targets).reshape(-1)
    positives, negatives = s[:, y == 1], s[:, y == 0]
    m, n = positives.shape[1], negatives.shape[1]
    tx = rankdata(positives, axis=1)  # 'average' ranks: midranks
    ty = rankdata(negatives, axis=1)
    tz = rankdata(np.concatenate([positives, negatives], axis=1), axis=1)
    aurocs = (tz[:, :m].sum(axis=1) / m - (m + 1) / 2) / n
    v10 = (tz[:, :m] - tx) / n
    v01 = 1.0 - (tz[:, m:] - ty) / m
    return aurocs, v10, v01


def delong_covariance(scores: np.ndarray, targets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(aurocs (k,), covariance (k, k)) of the AUROCs of `scores` (k, N) on the same images
    (DeLong 1988: `S10 / m + S01 / n`). Needs at least two positives and two negatives."""
    aurocs, v10, v01 = delong_components(scores, targets)
    m, n = v10.shape[1], v01.shape[1]
    s10 = np.atleast_2d(np.cov(v10))
    s01 = np.atleast_2d(np.cov(v01))
    return aurocs, s10 / m + s01 / n


def paired_delong(
    scores_a: np.ndarray, scores_b: np.ndarray, targets: np.ndarray, confidence: float = 0.95
) -> DelongTest:
    """DeLong's paired test of `AUROC(b) - AUROC(a)` on the same images; `targets` 0/1 (other
    values, e.g. -1 unknown, are left out)."""
    y = np.asarray(targets).reshape(-1)
    known = (y == 0) | (y == 1)
    a = np.asarray(scores_a, dtype=np.float64).reshape(-1)[known]
    b = np.asarray(scores_b, dtype=np.float64).reshape(-1)[known]
    y = y[known]
    m, n = int((y == 1).sum()), int((y == 0).sum())
    if m < 2 or n < 2:
        return DelongTest(NAN, NAN, NAN, NAN, (NAN, NAN), NAN, m, n)
    aurocs, cov = delong_covariance(np.stack([a, b]), y)
    diff = float(aurocs[1] - aurocs[0])
    variance = float(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    se = float(np.sqrt(max(variance, 0.0)))
    if se == 0.0:
        return DelongTest(float(aurocs[0]), float(aurocs[1]), diff, 0.0, (diff, diff), NAN, m, n)
    z = norm.ppf(1 - (1 - confidence) / 2)
    p_value = float(2 * norm.sf(abs(diff) / se))
    ci = (diff - z * se, diff + z * se)
    return DelongTest(float(aurocs[0]), float(aurocs[1]), diff, se, ci, p_value, m, n)
