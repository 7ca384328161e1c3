"""The report's figure: mean test accuracy (or macro AUROC) per group, one panel per dataset,
with the chance level; `python -m graytransfer.tools.report` writes it as report.png."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

from graytransfer.study.groups import (
    MISSING,
    Group,
    by_data,
    config_value,
    extra_columns,
    headline_metric,
    mean,
)


def chance_level(groups: list[Group]) -> float | None:
    """1 / the number of classes of the groups' runs (metrics.json `classes`), if recorded;
    0.5 for runs ranked by AUROC (multilabel, binary)."""
    if headline_metric(run for g in groups for run in g.runs) != "test/acc":
        return 0.5
    for group in groups:
        for run in group.runs:
            if run.get("classes"):
                return 1.0 / len(run["classes"])
    return None


def figure(groups: list[Group]) -> Any:
    """Horizontal bars of mean test accuracy (± std over seeds) from 0 to 1, labelled with their
    group and n, one panel per dataset, with its chance level (1 / classes) as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_data = by_data(groups)
    height = max(3.0, 0.35 * max(len(rows) for rows in per_data.values()) + 1.5)
    longest = max(len(_label(g, extra_columns(rows))) for rows in per_data.values() for g in rows)
    width = 4.5 + 0.075 * longest  # room for the longest label
    panels = len(per_data)
    fig, axes = plt.subplots(1, panels, figsize=(width * panels, height), squeeze=False)
    for ax, (data, rows) in zip(axes[0], per_data.items(), strict=True):
        extra = extra_columns(rows)
        rows = rows[::-1]
        metric = headline_metric(run for g in rows for run in g.runs)
        means = [mean(g.values(("metrics", metric))) for g in rows]
        stds = [_std(g.values(("metrics", metric))) for g in rows]
        labels = [f"{_label(g, extra)} n={len(g.runs)}" for g in rows]
        colors = ["tab:gray" if g.weights != "ImageNet" else "tab:blue" for g in rows]
        ax.barh(labels, means, xerr=stds, color=colors, capsize=3)
        chance = chance_level(rows)
        if chance is not None:
            ax.axvline(chance, color="tab:red", linestyle="--", label=f"chance {chance:.3g}")
            ax.legend(loc="lower right")
        ax.set_xlim(0.0, 1.0)
        name = "test accuracy" if metric == "test/acc" else "test macro AUROC"
        ax.set_xlabel(f"{name} (mean ± std over seeds)")
        ax.set_title(f"data={data}")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def plot(groups: list[Group], png: Path) -> Path:
    """`figure(groups)` saved as `png`."""
    import matplotlib.pyplot as plt

    fig = figure(groups)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _label(group: Group, extra: list[str]) -> str:
    suffix = "" if group.weights == "ImageNet" else f" ({group.weights})"
    keys = " ".join(f"{k}={config_value(group.config.get(k, MISSING))}" for k in extra)
    return f"{group.model}/{group.strategy}{suffix}" + (f" {keys}" if keys else "")
