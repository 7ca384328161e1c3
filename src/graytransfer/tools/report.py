"""`python -m graytransfer.tools.report DIR`: compare the runs of a sweep from their `metrics.json`.

Reads every `metrics.json` under DIR (a multirun folder, or any folder of runs), groups the runs
by data, model, weights and strategy, and writes `report.md` (mean ± std over seeds of test
accuracy, macro F1, macro AUROC, extra parameters, stem parameters and MACs
(`graytransfer.adapt.cost`), training images/s and wall time) and `report.png` (test accuracy
per strategy, one panel per dataset) into DIR, or `--out`. Offline: it needs no W&B account.
Failed and diverged runs are listed, not averaged.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graytransfer.cli import exit_on_user_error
from graytransfer.errors import UserError

#: (column title, how to read it from a metrics.json record, number format)
COLUMNS: list[tuple[str, tuple[str, ...], str]] = [
    ("test acc", ("metrics", "test/acc"), ".3f"),
    ("test F1", ("metrics", "test/f1"), ".3f"),
    ("test AUROC", ("metrics", "test/auroc"), ".4f"),
    ("extra params", ("cost", "extra_params"), ",.0f"),
    ("stem params", ("cost", "stem_params"), ",.0f"),
    ("stem MACs", ("cost", "stem_macs"), ",.0f"),
    ("train img/s", ("timing", "train_images_per_s"), ".0f"),
    ("wall s", ("timing", "total_s"), ".0f"),
]


@dataclass
class Group:
    """The runs that differ only by seed."""

    data: str
    model: str
    weights: str
    strategy: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def values(self, path: Sequence[str]) -> list[float]:
        found = []
        for run in self.runs:
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                found.append(float(value))
        return found


def find_runs(root: Path) -> list[dict[str, Any]]:
    """Every readable `metrics.json` under `root` (W&B folders skipped), with its folder."""
    if not root.is_dir():
        raise UserError(f"report: '{root}' is not a folder; give a multirun folder of runs")
    runs = []
    for path in sorted(root.rglob("metrics.json")):
        if "wandb" in path.parts:
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            print(f"report: skipping unreadable {path}: {err}", file=sys.stderr)
            continue
        record["_dir"] = str(path.parent.relative_to(root))
        runs.append(record)
    if not runs:
        raise UserError(f"report: no metrics.json under '{root}'; is it a run or multirun folder?")
    return runs


def run_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """(data, model, weights, strategy) of one run, from its Hydra choices where present."""
    choices = record.get("choices") or {}
    data = choices.get("data") or str(record.get("data", "?")).split(":")[0]
    model = choices.get("model") or str(record.get("model", "?"))
    weights = "ImageNet" if record.get("pretrained", True) else "random init"
    strategy = str(record.get("strategy") or choices.get("adapt") or "?")
    return data, model, weights, strategy


def group_runs(runs: Iterable[dict[str, Any]]) -> tuple[list[Group], list[dict[str, Any]]]:
    """Finished runs grouped by `run_key`, and the runs that failed or diverged."""
    groups: dict[tuple[str, str, str, str], Group] = {}
    bad = []
    for run in runs:
        if run.get("status", "ok") != "ok":
            bad.append(run)
            continue
        key = run_key(run)
        groups.setdefault(key, Group(*key)).runs.append(run)
    ordered = sorted(
        groups.values(),
        key=lambda g: (g.data, g.model, -_mean(g.values(("metrics", "test/acc")))),
    )
    return ordered, bad


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def mean_std(values: list[float], fmt: str) -> str:
    """`0.912 ± 0.004` (sample std over seeds), `0.912` for one or equal values, `–` for none."""
    if not values:
        return "–"
    if len(values) == 1 or len(set(values)) == 1:  # one run, or a constant (a cost)
        return format(values[0], fmt)
    return f"{format(statistics.fmean(values), fmt)} ± {format(statistics.stdev(values), fmt)}"


def markdown_table(groups: list[Group]) -> str:
    """One row per group; one table per dataset so that each can be read on its own."""
    by_data: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        by_data[group.data].append(group)
    lines = []
    header = ["model", "weights", "strategy", "seeds", *[title for title, _, _ in COLUMNS]]
    for data, rows in by_data.items():
        lines += [f"**data={data}**", ""]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "|".join("---" if i < 3 else "--:" for i in range(len(header))) + "|")
        for g in rows:
            cells = [g.model, g.weights, g.strategy, str(len(g.runs))]
            cells += [mean_std(g.values(path), fmt) for _, path, fmt in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def failures_section(bad: list[dict[str, Any]]) -> str:
    if not bad:
        return ""
    lines = ["**Runs that did not finish** (not averaged):", ""]
    for run in bad:
        error = str(run.get("error") or "").splitlines()[:1]
        lines.append(f"- `{run['_dir']}`: {run.get('status')} {error[0] if error else ''}".rstrip())
    return "\n".join(lines) + "\n"


def plot(groups: list[Group], png: Path) -> Path:
    """Horizontal bars of mean test accuracy (± std over seeds), one panel per dataset."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(g.data for g in groups))
    height = max(3.0, 0.35 * max(sum(g.data == d for g in groups) for d in datasets) + 1.5)
    fig, axes = plt.subplots(1, len(datasets), figsize=(6 * len(datasets), height), squeeze=False)
    for ax, data in zip(axes[0], datasets, strict=True):
        rows = [g for g in groups if g.data == data][::-1]
        means = [_mean(g.values(("metrics", "test/acc"))) for g in rows]
        stds = [_std(g.values(("metrics", "test/acc"))) for g in rows]
        labels = [_label(g) for g in rows]
        colors = ["tab:gray" if g.weights != "ImageNet" else "tab:blue" for g in rows]
        ax.barh(labels, means, xerr=stds, color=colors, capsize=3)
        finite = [m for m in means if math.isfinite(m)]
        low = max(0.0, min(finite) - 0.05) if finite else 0.0
        ax.set_xlim(low, 1.0)
        ax.set_xlabel("test accuracy (mean ± std over seeds)")
        ax.set_title(f"data={data}")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def _std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def _label(group: Group) -> str:
    suffix = "" if group.weights == "ImageNet" else f" ({group.weights})"
    return f"{group.model}/{group.strategy}{suffix}"


def write_report(root: Path, out: Path | None = None) -> tuple[Path, Path]:
    """Write `report.md` and `report.png` for the runs under `root`; returns their paths."""
    runs = find_runs(root)
    groups, bad = group_runs(runs)
    out = out or root
    out.mkdir(parents=True, exist_ok=True)
    md = out / "report.md"
    png = out / "report.png"
    body = [
        f"# Report: {root}",
        "",
        f"{len(runs)} runs ({len(runs) - len(bad)} finished); mean ± std over seeds.",
        "",
        markdown_table(groups),
        failures_section(bad),
        f"![test accuracy]({png.name})",
        "",
    ]
    md.write_text("\n".join(body))
    if groups:
        plot(groups, png)
    return md, png


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graytransfer.tools.report",
        description="Compare the runs of a sweep: a Markdown table and a PNG chart.",
    )
    parser.add_argument("dir", type=Path, help="a multirun folder (or any folder of runs)")
    parser.add_argument("--out", type=Path, default=None, help="where to write (default: DIR)")
    args = parser.parse_args(argv)
    md, png = exit_on_user_error(lambda: write_report(args.dir, args.out))
    print(md.read_text())
    print(f"wrote {md} and {png}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
