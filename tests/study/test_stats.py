"""graytransfer.study.stats: t-interval of a mean over seeds, the paired difference to a
reference strategy (bootstrap and t intervals, only seeds both have), and the verdict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from graytransfer.study.stats import (
    BETTER,
    LEANS_BETTER,
    LEANS_WORSE,
    NO_DIFFERENCE,
    TOO_FEW,
    WORSE,
    Interval,
    bootstrap_ci,
    ci_text,
    holm,
    mean_ci,
    paired_difference,
    paired_t_p,
    signed_text,
    t_quantile,
    verdict,
)


def test_the_mean_interval_is_students_t_over_the_seeds() -> None:
    # by hand: mean 0.84, s = sqrt(0.004 / 4) = 0.0316228, t(4, 0.975) = 2.776445 (a t table)
    # half width = 2.776445 * 0.0316228 / sqrt(5) = 0.0392649
    assert t_quantile(4) == pytest.approx(2.776445, abs=1e-6)
    interval = mean_ci([0.80, 0.82, 0.84, 0.86, 0.88])
    assert (interval.mean, interval.n) == (pytest.approx(0.84), 5)
    assert interval.low == pytest.approx(0.84 - 0.0392649, abs=1e-7)
    assert interval.high == pytest.approx(0.84 + 0.0392649, abs=1e-7)
    # and as SciPy states it
    values = [0.91, 0.87, 0.90]
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert (mean_ci(values).low, mean_ci(values).high) == (pytest.approx(low), pytest.approx(high))
    one = mean_ci([0.9])
    assert one.mean == 0.9 and math.isnan(one.low) and math.isnan(one.high)


def test_the_bootstrap_interval_is_the_exact_bootstraps_percentiles() -> None:
    reference = [0.880, 0.875, 0.890, 0.870, 0.885]
    diffs = [0.006, 0.004, 0.008, 0.005, 0.007]
    values = [r + d for r, d in zip(reference, diffs, strict=True)]
    # all 5^5 equally likely resamples of the 5 pairs: 2.5% and 97.5% of their mean difference
    means = [np.mean([diffs[i] for i in pick]) for pick in itertools.product(range(5), repeat=5)]
    exact_low, exact_high = np.percentile(means, [2.5, 97.5])  # 0.0048, 0.0072
    interval = bootstrap_ci(values, reference)
    assert interval.mean == pytest.approx(0.006)
    assert interval.low == pytest.approx(exact_low, abs=2e-4)
    assert interval.high == pytest.approx(exact_high, abs=2e-4)
    assert bootstrap_ci(values, reference) == interval  # seeded: the same report twice
    same = bootstrap_ci([0.9, 0.8], [0.8, 0.7])  # no spread
    assert (same.low, same.high) == (pytest.approx(0.1), pytest.approx(0.1))


def test_differences_are_paired_by_seed_on_the_seeds_both_have() -> None:
    # the seeds vary a lot (0.75..0.95), the strategy beats the reference by ~1 point on each
    reference = {0: 0.80, 1: 0.90, 2: 0.85, 3: 0.95, 4: 0.75, 5: 0.99}  # seed 5: unpaired
    gain = {0: 0.010, 1: 0.012, 2: 0.008, 3: 0.011, 4: 0.009}
    values = {seed: reference[seed] + gain[seed] for seed in (3, 1, 4, 0, 2)}  # another order
    diff = paired_difference(values, reference)
    assert diff.seeds == (0, 1, 2, 3, 4)
    assert diff.bootstrap.mean == pytest.approx(0.010)
    assert diff.bootstrap.n == diff.t.n == 5
    assert 0.008 <= diff.bootstrap.low < 0.010 < diff.bootstrap.high <= 0.012
    # t-interval of the 5 differences: mean 0.010, s = 0.0015811, t(4) = 2.776445
    half = 2.776445 * 0.0015811 / math.sqrt(5)
    assert diff.t.low == pytest.approx(0.010 - half, abs=1e-6)
    assert diff.t.high == pytest.approx(0.010 + half, abs=1e-6)
    assert diff.verdict == BETTER
    # the other way round
    assert paired_difference(reference, values).verdict == WORSE
    # one common seed: no interval
    lone = paired_difference({0: 0.9, 7: 0.8}, {0: 0.85, 8: 0.8})
    assert lone.seeds == (0,) and lone.verdict == TOO_FEW
    assert lone.bootstrap.mean == pytest.approx(0.05)


def test_the_verdict_says_whether_the_interval_excludes_zero() -> None:
    assert verdict(Interval(0.01, 0.001, 0.02, 5)) == BETTER
    assert verdict(Interval(-0.01, -0.02, -0.001, 5)) == WORSE
    assert verdict(Interval(0.01, -0.001, 0.02, 5)) == NO_DIFFERENCE
    assert verdict(Interval(0.0, 0.0, 0.0, 5)) == NO_DIFFERENCE
    assert verdict(Interval(0.01, math.nan, math.nan, 1)) == TOO_FEW
    # with the t interval: both must agree for better / worse, else the bootstrap only leans
    t_has_zero, t_below = Interval(-0.004, -0.0084, 0.0002, 5), Interval(-0.01, -0.02, -0.001, 5)
    boot_below = Interval(-0.004, -0.0067, -0.0015, 5)
    assert verdict(boot_below, t_has_zero) == LEANS_WORSE
    assert verdict(boot_below, t_below) == WORSE
    assert verdict(Interval(0.01, 0.001, 0.02, 5), Interval(0.01, -0.01, 0.03, 5)) == LEANS_BETTER
    assert verdict(Interval(0.01, -0.001, 0.02, 5), t_below) == NO_DIFFERENCE
    noisy = paired_difference(
        {s: 0.9 + d for s, d in enumerate([0.02, -0.03, 0.01, -0.01, 0.02])},
        {s: 0.9 for s in range(5)},
    )
    assert noisy.verdict == NO_DIFFERENCE


def test_the_paired_t_tests_p_value() -> None:
    # by hand: differences 0.006, 0.004, 0.008, 0.005, 0.007: mean 0.006, s = 0.0015811,
    # t = 0.006 / (0.0015811 / sqrt(5)) = 8.4853 on 4 df; two-sided p = 2 * P(T_4 >= 8.4853)
    p = paired_t_p([0.006, 0.004, 0.008, 0.005, 0.007])
    assert p == pytest.approx(2 * stats.t.sf(8.4853, 4), rel=1e-4)
    assert p == pytest.approx(stats.ttest_1samp([6, 4, 8, 5, 7], 0).pvalue)  # as SciPy tests it
    assert paired_t_p([-0.006, -0.004, -0.008, -0.005, -0.007]) == pytest.approx(p)  # 2-sided
    assert math.isnan(paired_t_p([0.01]))
    assert (paired_t_p([0.01, 0.01]), paired_t_p([0.0, 0.0])) == (0.0, 1.0)  # no spread
    diff = paired_difference({s: 0.9 + d for s, d in enumerate([6, 4, 8, 5, 7])}, {})
    assert math.isnan(diff.p)  # nothing paired
    assert paired_difference({0: 0.906, 1: 0.904}, {0: 0.9, 1: 0.9}).p == pytest.approx(
        2 * stats.t.sf(0.005 / (0.0014142 / math.sqrt(2)), 1), rel=1e-4
    )


def test_holm_adjusts_a_family_of_p_values_step_down() -> None:
    # by hand, m = 3: sorted 0.01, 0.03, 0.04 -> 3 * 0.01 = 0.03; max(0.03, 2 * 0.03) = 0.06;
    # max(0.06, 1 * 0.04) = 0.06 (monotone: never below an earlier adjusted value)
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": math.nan})
    assert adjusted["a"] == pytest.approx(0.03)
    assert adjusted["b"] == pytest.approx(0.06)
    assert adjusted["c"] == pytest.approx(0.06)
    assert math.isnan(adjusted["d"])  # not counted in m
    assert holm({"x": 0.4, "y": 0.5}) == {"x": pytest.approx(0.8), "y": pytest.approx(0.8)}
    assert holm({"x": 0.6, "y": 0.7}) == {"x": 1.0, "y": 1.0}  # capped at 1
    assert holm({"only": 0.02}) == {"only": 0.02}  # one comparison: unchanged


def test_signed_cells_never_print_minus_zero() -> None:
    assert ci_text(Interval(-1e-7, -0.004, 0.004, 5), signed=True) == "+0.00 [-0.40, +0.40]"
    assert (signed_text(0.1549), signed_text(-0.4149)) == ("+0.15", "-0.41")
