"""graytransfer.tools.study_stats: t-interval of a mean over seeds, the paired difference to a
reference strategy (bootstrap and t intervals, only seeds both have), and the verdict."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from graytransfer.tools.study_stats import (
    BETTER,
    LEANS_BETTER,
    LEANS_WORSE,
    NO_DIFFERENCE,
    TOO_FEW,
    WORSE,
    Interval,
    bootstrap_ci,
    mean_ci,
    paired_difference,
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
