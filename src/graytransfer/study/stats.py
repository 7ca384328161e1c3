"""The study's statistics: a mean with its 95% Student-t interval over seeds, and the paired
difference of a strategy to a reference strategy (same seed, so the same split and the same
initial head) with a percentile bootstrap interval and a t-interval, and the verdict it supports.

Why paired: two strategies trained with the same seed see the same split, the same data order
and the same head initialisation, so the per-seed difference cancels most of what makes seeds
differ. Overlapping per-strategy intervals say little; the interval of the paired difference says
whether one strategy beats the other. Only seeds both strategies have are paired. A table
compares several strategies with one reference, so the paired t-tests' p-values are also given
Holm-adjusted over the table (`holm`): the calls that survive looking many times.

t quantiles come from `scipy.stats.t` and the bootstrap from `scipy.stats.bootstrap` (SciPy is
a dependency of scikit-learn, which graytransfer requires); resampling is seeded, so a report
rebuilt from the same runs prints the same intervals.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: resamples of the percentile bootstrap
RESAMPLES = 10_000
#: confidence level of every interval
LEVEL = 0.95
#: verdicts of a paired difference (its interval excludes 0 above, below, or includes it)
BETTER, WORSE, NO_DIFFERENCE, TOO_FEW = (
    "better",
    "worse",
    "no detectable difference",
    "too few paired seeds",
)
#: verdicts when only the bootstrap interval excludes 0: with a handful of seeds the percentile
#: bootstrap is too narrow (it undercovers), so the t-interval has to agree for better / worse
LEANS_BETTER, LEANS_WORSE = ("leans better (t-interval has 0)", "leans worse (t-interval has 0)")


@dataclass(frozen=True)
class Interval:
    """`mean` of `n` values and the interval [`low`, `high`] (NaN when n < 2)."""

    mean: float
    low: float
    high: float
    n: int


@dataclass(frozen=True)
class Paired:
    """A strategy minus the reference on the `seeds` both have: the mean difference, its
    percentile bootstrap interval (`bootstrap`) and Student-t interval (`t`), the `verdict`
    from the bootstrap interval, and `p`, the two-sided p-value of the paired t-test (NaN with
    fewer than 2 seeds), the number a multiple-comparison adjustment (`holm`) works on."""

    seeds: tuple[Any, ...]
    bootstrap: Interval
    t: Interval
    verdict: str
    p: float


def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided Student-t quantile: P(|T_df| <= q) = level (2.776 for df=4 at 95%)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + level / 2, df))


def mean_ci(values: Sequence[float], level: float = LEVEL) -> Interval:
    """Mean of `values` with its Student-t interval: mean ± t_{n-1} * s / sqrt(n), s the sample
    standard deviation. One value: the interval is NaN; none: everything NaN."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    if n == 0:
        return Interval(math.nan, math.nan, math.nan, 0)
    centre = float(x.mean())
    if n < 2:
        return Interval(centre, math.nan, math.nan, n)
    half = t_quantile(n - 1, level) * float(x.std(ddof=1)) / math.sqrt(n)
    return Interval(centre, centre - half, centre + half, n)


def bootstrap_ci(
    values: Sequence[float],
    reference: Sequence[float],
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> Interval:
    """Mean of `values - reference` (paired: equal lengths, element i of both from the same
    seed) with its percentile bootstrap interval: the pairs are resampled with replacement
    `resamples` times (a numpy Generator seeded with `seed`) and the interval is the central
    `level` of the resampled mean differences. Fewer than 2 pairs: the interval is NaN."""
    a, b = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")
    centre = float((a - b).mean()) if len(a) else math.nan
    if len(a) < 2:
        return Interval(centre, math.nan, math.nan, len(a))
    if np.all(a - b == a[0] - b[0]):  # every resample has the same mean: no spread
        return Interval(centre, centre, centre, len(a))
    from scipy.stats import bootstrap

    result = bootstrap(
        (a, b),
        _mean_difference,
        n_resamples=resamples,
        paired=True,
        vectorized=True,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    low, high = result.confidence_interval
    return Interval(centre, float(low), float(high), len(a))


def paired_t_p(differences: Sequence[float]) -> float:
    """Two-sided p-value of the one-sample t-test that the mean of `differences` (one per
    seed) is 0 (`scipy.stats.ttest_1samp`). NaN for fewer than 2 values; with no spread (where
    SciPy gives NaN), 0 when the mean is not 0 and 1 when it is."""
    x = np.asarray(differences, dtype=float)
    if len(x) < 2:
        return math.nan
    if np.all(x == x[0]):
        return 0.0 if x[0] != 0 else 1.0
    from scipy.stats import ttest_1samp

    return float(ttest_1samp(x, 0.0).pvalue)


def holm(p_values: Mapping[Any, float]) -> dict[Any, float]:
    """Holm's step-down adjustment of the p-values of one family of comparisons (the strategies
    of one table against the same reference): sorted ascending, the i-th (from 0) of the m
    finite ones becomes max over j <= i of min(1, (m - j) * p_j). Rejecting where the adjusted
    p < 0.05 keeps the chance of any false call in the family at 5%. NaN stays NaN."""
    finite = sorted(((p, k) for k, p in p_values.items() if not math.isnan(p)), key=lambda x: x[0])
    adjusted = {key: math.nan for key in p_values}
    running = 0.0
    for j, (p, key) in enumerate(finite):
        running = max(running, min(1.0, (len(finite) - j) * p))
        adjusted[key] = running
    return adjusted


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return a.mean(axis=axis) - b.mean(axis=axis)


def verdict(interval: Interval, t: Interval | None = None) -> str:
    """`better` when the (bootstrap) interval of a difference lies above 0, `worse` below, `no
    detectable difference` when it contains 0, `too few paired seeds` when there is none. With
    the `t` interval too, better/worse need both intervals on the same side of 0; when only the
    bootstrap's is, the verdict `leans` that way."""
    if math.isnan(interval.low) or math.isnan(interval.high):
        return TOO_FEW
    side = BETTER if interval.low > 0 else WORSE if interval.high < 0 else NO_DIFFERENCE
    if side == NO_DIFFERENCE or t is None or math.isnan(t.low) or verdict(t) == side:
        return side
    return LEANS_BETTER if side == BETTER else LEANS_WORSE


def paired_difference(
    values: Mapping[Any, float],
    reference: Mapping[Any, float],
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> Paired:
    """`values` minus `reference`, both keyed by seed, on the seeds both have (in sorted
    order): bootstrap interval (`bootstrap_ci`), t-interval of the differences (`mean_ci`), the
    verdict of the bootstrap interval and the paired t-test's p (`paired_t_p`)."""
    seeds = tuple(sorted(set(values) & set(reference), key=repr))
    a = [values[s] for s in seeds]
    b = [reference[s] for s in seeds]
    boot = bootstrap_ci(a, b, resamples, level, seed)
    differences = [x - y for x, y in zip(a, b, strict=True)]
    t = mean_ci(differences, level)
    return Paired(seeds, boot, t, verdict(boot, t), paired_t_p(differences))


def signed_text(x: float) -> str:
    """`+0.16`, `-0.41`; a value that rounds to zero is `+0.00`, never `-0.00`."""
    return f"{round(x, 2) + 0.0:+.2f}"


def p_text(p: float, adjusted: float) -> str:
    """`0.012, 0.048`: a p-value and its Holm-adjusted value, 3 decimals (`–` when NaN)."""
    return "–" if math.isnan(p) else f"{p:.3f}, {adjusted:.3f}"


def ci_text(interval: Interval, signed: bool = False) -> str:
    """`88.06 [87.51, 88.61]` (in percent; NaN bounds: the mean alone)."""
    fmt = signed_text if signed else (lambda x: f"{x:.2f}")
    if interval.n == 0:
        return "–"
    centre = fmt(100 * interval.mean)
    if interval.low != interval.low:  # NaN: one value
        return centre
    return f"{centre} [{fmt(100 * interval.low)}, {fmt(100 * interval.high)}]"
