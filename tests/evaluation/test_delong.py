"""DeLong's paired AUROC test (graytransfer.evaluation.delong), checked three ways:

- a published example: Hanley & McNeil (1982, Radiology 143:29, Table 1), 109 CT images rated
  1-5 by a radiologist (58 normal, 51 abnormal): AUROC 0.893 as published; its standard error
  0.032 there comes from Hanley-McNeil's exponential approximation, DeLong's (the same data)
  is 0.0307;
- the brute-force O(m n) structural components of DeLong et al. (1988), from `psi` of every
  positive-negative pair, on random scores with ties: equal to the fast midrank version;
- the paired bootstrap on large n: DeLong's standard error of the difference agrees with the
  spread of the bootstrap differences (within 10%; each resample's AUROC by midranks, the
  Mann-Whitney statistic, checked equal to scikit-learn's), and scikit-learn's AUROCs are its
  values.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers.ranks import rank_auroc
from sklearn.metrics import roc_auc_score

from graytransfer.evaluation.delong import delong_covariance, paired_delong


def hanley_mcneil() -> tuple[np.ndarray, np.ndarray]:
    abnormal = np.repeat([1, 2, 3, 4, 5], [3, 2, 2, 11, 33])
    normal = np.repeat([1, 2, 3, 4, 5], [33, 6, 6, 11, 2])
    scores = np.r_[abnormal, normal].astype(float)
    return scores, np.r_[np.ones(len(abnormal)), np.zeros(len(normal))].astype(int)


def brute_force(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong 1988 as written: psi over every (positive, negative) pair per scorer."""
    comps10, comps01, aucs = [], [], []
    for s in scores:
        x, z = s[y == 1], s[y == 0]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        aucs.append(psi.mean())
        comps10.append(psi.mean(axis=1))
        comps01.append(psi.mean(axis=0))
    m, n = int((y == 1).sum()), int((y == 0).sum())
    cov = np.cov(np.array(comps10)) / m + np.cov(np.array(comps01)) / n
    return np.array(aucs), np.atleast_2d(cov)


def test_the_published_hanley_mcneil_example() -> None:
    scores, y = hanley_mcneil()
    aurocs, cov = delong_covariance(scores[None], y)
    assert aurocs[0] == pytest.approx(0.893, abs=5e-4)
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.0307, abs=1e-4)
    assert np.sqrt(cov[0, 0]) == pytest.approx(0.032, abs=0.002)  # Hanley-McNeil's approximation


def test_fast_delong_equals_the_brute_force_structural_components() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 150)
    a = np.round(y + rng.normal(0, 1.2, 150), 1)  # rounded: many ties
    b = np.round(0.5 * a + y + rng.normal(0, 1, 150), 1)
    fast_auc, fast_cov = delong_covariance(np.stack([a, b]), y)
    slow_auc, slow_cov = brute_force(np.stack([a, b]), y)
    np.testing.assert_allclose(fast_auc, slow_auc, atol=1e-12)
    np.testing.assert_allclose(fast_cov, slow_cov, atol=1e-12)
    np.testing.assert_allclose(fast_auc, [roc_auc_score(y, a), roc_auc_score(y, b)], atol=1e-12)
    test = paired_delong(a, b, y)
    variance = slow_cov[0, 0] + slow_cov[1, 1] - 2 * slow_cov[0, 1]
    assert test.se == pytest.approx(np.sqrt(variance), abs=1e-12)
    assert test.diff == pytest.approx(slow_auc[1] - slow_auc[0], abs=1e-12)
    assert test.ci[0] < test.diff < test.ci[1]
    assert test.ci[1] - test.ci[0] == pytest.approx(2 * 1.959964 * test.se, rel=1e-5)


def test_delong_agrees_with_the_paired_bootstrap_on_large_n() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    y = rng.integers(0, 2, n)
    a = y + rng.normal(0, 1.5, n)
    b = y + rng.normal(0, 1.2, n) + 0.3 * (a - y)
    test = paired_delong(a, b, y)
    assert test.auroc_a == pytest.approx(roc_auc_score(y, a))
    assert rank_auroc(y, np.round(a, 1)) == pytest.approx(roc_auc_score(y, np.round(a, 1)))
    diffs = []
    for _ in range(300):
        i = rng.integers(0, n, n)
        diffs.append(rank_auroc(y[i], b[i]) - rank_auroc(y[i], a[i]))
    assert test.se == pytest.approx(np.std(diffs), rel=0.1)
    assert test.p_value < 0.05  # B is better by construction (diff ~0.026, se ~0.011)


def test_unknown_targets_are_left_out_and_a_single_class_is_nan() -> None:
    scores, y = hanley_mcneil()
    y_unknown = np.r_[y, [-1, -1]]
    a = np.r_[scores, [5.0, 1.0]]
    b = np.r_[scores[::-1], [1.0, 5.0]]
    assert paired_delong(a, b, y_unknown).diff == pytest.approx(
        paired_delong(scores, scores[::-1], y).diff
    )
    single = paired_delong(scores, scores, np.ones_like(y))
    assert np.isnan(single.diff) and single.negatives == 0
    same = paired_delong(scores, scores, y)
    assert same.diff == 0 and same.se == 0 and np.isnan(same.p_value)
