"""The cross-validation section of `python -m graytransfer.tools.report DIR` when DIR is a CV
sweep (`python train.py -m cv.folds=K`): every metric per fold, its mean, spread (sample std
over folds) and min–max, and the folds' out-of-fold predictions merged into
`DIR/oof_predictions.csv` (`graytransfer.run.cv.merge_oof`).

A metric is any number a fold's `metrics.json` records under `val/` (the held-out fold) or
`test/` (the shared, held-out test split), intervals (`_ci`) shown beside it per fold. A fold
that failed is listed and left out of the summary.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path
from typing import Any

from graytransfer.errors import UserError
from graytransfer.run.cv import fold_folders, fold_of, merge_oof
from graytransfer.run.folder import RunFolder

TITLE = "## Cross-validation"


def fold_metrics(folders: list[Path]) -> dict[int, dict[str, Any]]:
    """fold -> its `metrics.json` record (`status` and `metrics`)."""
    return {fold_of(f)[0]: RunFolder(f).record() or {} for f in folders}  # type: ignore[index]


def metric_names(records: dict[int, dict[str, Any]]) -> list[str]:
    """The `val/` and `test/` numbers of the folds' records (not the intervals), sorted: test
    first."""
    names: set[str] = set()
    for record in records.values():
        for name, value in (record.get("metrics") or {}).items():
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if number and name.startswith(("val/", "test/")) and not name.endswith("_ci"):
                names.add(name)
    return sorted(names, key=lambda n: (not n.startswith("test/"), n))


def summary(values: list[float]) -> tuple[float, float, float, float]:
    """(mean, sample std (0 for one value), min, max) of the finite `values`."""
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return mean, std, min(values), max(values)


def cv_section(root: Path) -> str:
    """The Markdown section for the CV sweep at `root` (and `root/oof_predictions.csv`
    written), or "" when `root` holds no fold runs."""
    try:
        folders = fold_folders(root)
    except UserError as err:
        if "no cross-validation fold runs" in str(err):
            return ""
        return f"{TITLE}\n\nNot summarised: {err}\n"
    records = fold_metrics(folders)
    folds = fold_of(folders[0])[1]  # type: ignore[index]
    ok = [k for k, r in records.items() if r.get("status") != "failed"]
    lines = [
        f"{TITLE} ({folds} folds)",
        "",
        "Each fold's run holds out that fold as its val split (`val/`: out-of-fold) and is "
        "tested on the same held-out test split (`test/`, with its 95% interval). mean, std "
        "(sample, over folds) and min–max are over the finished folds "
        f"({', '.join(map(str, ok)) or 'none'}).",
        "",
    ]
    failed = [k for k in records if k not in ok]
    if failed:
        lines += [f"Failed fold(s), left out: {', '.join(map(str, failed))}.", ""]
    header = ["metric", *(f"fold {k}" for k in records), "mean", "std", "min–max"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|---|" + "|".join("--:" for _ in header[1:]) + "|")
    for name in metric_names(records):
        cells = [f"`{name}`"]
        values = []
        for k, record in records.items():
            metrics = record.get("metrics") or {}
            value = metrics.get(name)
            cells.append(_cell(value, metrics.get(f"{name}_ci")))
            if k in ok and isinstance(value, (int, float)) and math.isfinite(value):
                values.append(float(value))
        if values:
            mean, std, low, high = summary(values)
            cells += [f"{mean:.4f}", f"{std:.4f}", f"{low:.4f}–{high:.4f}"]
        else:
            cells += ["–", "–", "–"]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    try:
        merged = merge_oof(root)
        rows = sum(1 for _ in merged.open(encoding="utf-8")) - 1
        lines.append(f"Out-of-fold predictions: `{merged.name}` ({rows} images, one row each).")
    except UserError as err:
        lines.append(f"Out-of-fold predictions not merged: {err}")
    return "\n".join([*lines, ""])


def _cell(value: Any, interval: Any) -> str:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "–"
    if isinstance(interval, list) and len(interval) == 2 and None not in interval:
        return f"{value:.4f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return f"{value:.4f}"
