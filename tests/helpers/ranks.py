"""A second, independent AUROC for reference loops: the Mann-Whitney statistic on midranks.

scikit-learn's `roc_auc_score` is the reference of the point estimates; in loops of hundreds of
resamples its input checks dominate, so the tests that only need each resample's AUROC use this
(checked equal to scikit-learn's, ties included, in tests/evaluation/test_delong.py)."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def rank_auroc(y: np.ndarray, scores: np.ndarray) -> float:
    """AUROC of `scores` against 0/1 `y`: the positives' midrank sum as the Mann-Whitney U, over
    positives x negatives (a tie counts one half)."""
    ranks = rankdata(scores)
    positives = int(y.sum())
    negatives = len(y) - positives
    return (ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives)
