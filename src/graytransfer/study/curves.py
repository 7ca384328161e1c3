"""The study's learning curves: validation accuracy against training step, read from each run's
Lightning CSV log (`csv/version_*/metrics.csv`, the `csv` logger the study config selects), the
mean over seeds per strategy as a line and the band from the lowest to the highest seed
(min-max, not an interval: with 5 seeds it shows every seed's spread). One PNG per panel
(a dataset, or a dataset and model when a study holds several models).

A run without a CSV log (another logger, or deleted) has no curve; that is not an error.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graytransfer.study.groups import Group

#: the metric the curves show, as Lightning's CSVLogger names its column
CURVE_METRIC = "val/acc"


@dataclass(frozen=True)
class Curve:
    """One group's curve: at each `steps[i]`, the `mean`, `low` (min) and `high` (max) over
    its `n` runs of `CURVE_METRIC`; `epoch_ends` are the last validated step of each epoch."""

    label: str
    steps: list[int]
    mean: list[float]
    low: list[float]
    high: list[float]
    n: int
    epoch_ends: list[int]


def read_curve(run_dir: Path) -> dict[int, tuple[int, float]]:
    """{step: (epoch, val/acc)} of one run from its `csv/version_*/metrics.csv` files (a resumed
    run's later versions win on a step both have); empty when there is no CSV log or it has no
    validation rows."""
    points: dict[int, tuple[int, float]] = {}
    logs = sorted((run_dir / "csv").glob("version_*/metrics.csv"), key=_version)
    for log in logs:
        with log.open(newline="") as handle:
            for row in csv.DictReader(handle):
                value, step, epoch = (row.get(k) or "" for k in (CURVE_METRIC, "step", "epoch"))
                if not value or not step:
                    continue
                acc = float(value)
                if math.isfinite(acc):
                    points[int(float(step))] = (int(float(epoch or 0)), acc)
    return points


def _version(path: Path) -> int:
    try:
        return int(path.parent.name.removeprefix("version_"))
    except ValueError:
        return -1


def group_curve(group: Group, root: Path, label: str) -> Curve | None:
    """The mean and min-max band of `group`'s runs (their folders under `root`), at the steps
    every run with a CSV log has; None when no run has one."""
    curves = [c for c in (read_curve(root / run["_dir"]) for run in group.runs) if c]
    if not curves:
        return None
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    if not steps:
        return None
    values = np.array([[c[s][1] for s in steps] for c in curves])
    epochs = [curves[0][s][0] for s in steps]
    ends = [s for i, s in enumerate(steps) if i + 1 == len(steps) or epochs[i + 1] != epochs[i]]
    return Curve(
        label=label,
        steps=steps,
        mean=values.mean(axis=0).tolist(),
        low=values.min(axis=0).tolist(),
        high=values.max(axis=0).tolist(),
        n=len(curves),
        epoch_ends=ends,
    )


def curve_styles(n: int) -> list[tuple[str, str]]:
    """(colour, line style) for `n` curves, no two alike: matplotlib's ten `tab10` colours with
    solid lines, then again dashed, then dotted (a panel holds up to eleven strategies)."""
    styles = ("-", "--", ":", "-.")
    if n > 10 * len(styles):
        raise ValueError(f"{n} curves in one panel; at most {10 * len(styles)} can be told apart")
    return [(f"C{i % 10}", styles[i // 10]) for i in range(n)]


def plot_curves(curves: list[Curve], title: str, png: Path) -> Path:
    """One figure: each curve as its mean line with its min-max band, labelled `label (n=..)`,
    dotted vertical lines at the epoch ends of the first curve; saved as `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 5.0))
    for curve, (color, style) in zip(curves, curve_styles(len(curves)), strict=True):
        label = f"{curve.label} (n={curve.n})"
        ax.plot(curve.steps, curve.mean, marker=".", color=color, linestyle=style, label=label)
        ax.fill_between(curve.steps, curve.low, curve.high, color=color, alpha=0.15)
    for end in curves[0].epoch_ends[:-1] if curves else []:
        ax.axvline(end, color="gray", linestyle=":", linewidth=0.8)
    ax.set_xlabel("training step (dotted: end of an epoch)")
    ax.set_ylabel(f"{CURVE_METRIC}: mean over seeds, band min-max")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    partial = png.with_name(f".{png.name}.tmp.png")  # whole or not at all
    fig.savefig(partial, dpi=110)
    plt.close(fig)
    os.replace(partial, png)
    return png
