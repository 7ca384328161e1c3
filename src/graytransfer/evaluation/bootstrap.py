"""A seeded percentile bootstrap of the headline test metrics, over images or whole groups.

`Bootstrap` is conf/eval/'s object (`eval.bootstrap` resamples, `eval.seed`, `eval.confidence`).
A resample draws, with replacement, as many test images as there are (or, when the data has a
group column, as many groups as there are, each drawn group with all its images: a patient's
images are never split). On every resample each metric is computed
(`graytransfer.evaluation.weighted`, equal to scikit-learn's); the interval is the
`(1 - confidence) / 2` and `1 - (1 - confidence) / 2` percentiles of those values. A metric that
cannot be computed on a resample (a single class) is left out of that resample, and
`Intervals.counted` says on how many it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graytransfer.errors import UserError
from graytransfer.evaluation.calibration import calibration_names, weighted_calibration
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import headline_names
from graytransfer.evaluation.weighted import image_major, weighted_metrics

#: a metric computed on fewer than this share of the resamples is reported with its count
FEW = 0.9
#: how many (resample x image) counts are held at once
CHUNK = 2_000_000


@dataclass(frozen=True)
class Intervals:
    """The bounds (low, high) of each metric (None: computed on no resample), how many
    resamples each was computed on, and how they were drawn."""

    bounds: dict[str, tuple[float, float] | None]
    counted: dict[str, int]
    samples: int
    seed: int
    confidence: float
    over: str  # "images" or "groups"
    units: int  # images or groups drawn per resample
    notes: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """How the intervals were made, for `metrics.json` (`intervals`): method, what was
        resampled, resamples, seed, confidence, and the metrics computed on fewer than 90% of
        the resamples with their counts."""
        few = {k: n for k, n in self.counted.items() if n < FEW * self.samples}
        return {
            "method": "percentile bootstrap",
            "over": self.over,
            "units": self.units,
            "samples": self.samples,
            "seed": self.seed,
            "confidence": self.confidence,
            "counted_when_few": few,
        }


@dataclass(frozen=True)
class Bootstrap:
    """`bootstrap` resamples (0: no intervals), `seed` (None: the run's), `confidence`;
    `subgroups` and `bins` are read by `graytransfer.evaluation.subgroups`."""

    bootstrap: int = 1000
    seed: int | None = None
    confidence: float = 0.95
    subgroups: Any = None  # CSV columns: every metric per subgroup (SubgroupSpec)
    bins: Any = None  # {column: [edges] | number of quantile bins}

    def __post_init__(self) -> None:
        if isinstance(self.bootstrap, bool) or not isinstance(self.bootstrap, int):
            raise UserError(f"eval.bootstrap: {self.bootstrap!r} must be a whole number")
        if self.bootstrap < 0:
            raise UserError(f"eval.bootstrap: {self.bootstrap} must be 0 (no intervals) or more")
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise UserError(f"eval.seed: {self.seed!r} must be an int or null (the run's seed)")
        if not 0 < float(self.confidence) < 1:
            raise UserError(f"eval.confidence: {self.confidence} must be in (0, 1), e.g. 0.95")

    def intervals(self, preds: Predictions, run_seed: int | None = None) -> Intervals | None:
        """The intervals of `preds`' headline metrics; None when `bootstrap` is 0 or there are no
        predictions. The seed is `seed`, else `run_seed`, else 0."""
        if self.bootstrap == 0 or len(preds) == 0:
            return None
        seed = self.seed if self.seed is not None else (run_seed if run_seed is not None else 0)
        names = [*headline_names(preds), *calibration_names(preds)]  # + test ECE and Brier
        values: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for counts in resample_counts(len(preds), preds.groups, self.bootstrap, seed):
            counts = image_major(counts).T  # float64, one row per image in memory: once
            computed = {**weighted_metrics(preds, counts), **weighted_calibration(preds, counts)}
            for name in names:
                values[name].append(computed[name])
        tail = (1 - float(self.confidence)) / 2
        bounds, counted = {}, {}
        for name in names:
            found = np.concatenate(values[name])
            found = found[np.isfinite(found)]
            counted[name] = int(len(found))
            low, high = np.quantile(found, [tail, 1 - tail]) if len(found) else (None, None)
            bounds[name] = None if low is None else (float(low), float(high))
        grouped = preds.groups is not None
        return Intervals(
            bounds=bounds,
            counted=counted,
            samples=self.bootstrap,
            seed=int(seed),
            confidence=float(self.confidence),
            over="groups" if grouped else "images",
            units=len(set(preds.groups)) if grouped else len(preds),
        )


def resample_counts(
    n: int, groups: Sequence[str] | None, samples: int, seed: int
) -> Iterator[np.ndarray]:
    """`samples` resamples of `n` images, as counts (resamples, n) in chunks: how often each
    image was drawn. With `groups` (one per image), groups are drawn, as many as there are,
    and every image of a group gets its group's count."""
    rng = np.random.default_rng(seed)
    if groups is not None:
        names, member = np.unique(np.asarray(groups, dtype=str), return_inverse=True)
        units = len(names)
    else:
        member, units = np.arange(n), n
    chunk = max(1, CHUNK // max(n, 1))
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        drawn = rng.integers(0, units, size=(size, units))
        drawn += np.arange(size)[:, None] * units  # one bin per (resample, unit)
        counts = np.bincount(drawn.ravel(), minlength=size * units).reshape(size, units)
        yield counts if groups is None else counts[:, member]


def resampled_indices(counts: np.ndarray) -> np.ndarray:
    """The image indices of one resample (a row of `resample_counts`), each as often as drawn."""
    return np.repeat(np.arange(len(counts)), counts)
