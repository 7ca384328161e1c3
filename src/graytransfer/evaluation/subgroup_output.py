"""Where the per-subgroup results (`graytransfer.evaluation.subgroups.subgroup_metrics`) go:
the rows of `subgroups.csv` (`subgroup_rows`), the logged metric names
(`logged_metrics`: `test/subgroup/<column>/<subgroup>/<metric>`) and the table printed after the
test summary (`subgroup_table`)."""

from __future__ import annotations

import re
from typing import Any

from graytransfer.evaluation.subgroups import PREFIX, Results

#: the metrics the printed table shows per task (every metric is in metrics.json and the CSV)
SHOWN = {
    "multiclass": ("acc", "auroc"),
    "binary": ("auroc", "sensitivity", "specificity"),
    "multilabel": ("auroc", "f1"),
}


def subgroup_rows(results: Results) -> list[list[Any]]:
    """`subgroups.csv`, long form: one row per (column, subgroup, metric): column, subgroup, n,
    groups, metric, value, ci_low, ci_high, gap, note (empty where there is none)."""
    rows: list[list[Any]] = [
        ["column", "subgroup", "n", "groups", "metric", "value", "ci_low", "ci_high", "gap", "note"]
    ]
    for column, found in results.items():
        for value, entry in found.items():
            for key in entry:
                if not key.startswith(PREFIX) or key.endswith(("_ci", "_gap")):
                    continue
                bounds = entry.get(f"{key}_ci") or ["", ""]
                rows.append([
                    column, value, entry["n"], entry.get("groups", ""), key.removeprefix(PREFIX),
                    _cell(entry[key]), _cell(bounds[0]), _cell(bounds[1]),
                    _cell(entry.get(f"{key}_gap")), entry.get("note", ""),
                ])  # fmt: skip
    return rows


def _cell(value: Any) -> str:
    return "" if value is None or value == "" else f"{float(value):.6g}"


def logged_metrics(results: Results) -> dict[str, float]:
    """`test/subgroup/<column>/<subgroup>/<metric>` (and `_ci_low`, `_ci_high`, `_gap`) for the
    loggers, defined values only; names keep to letters, digits, `_ . - /` and spaces."""
    values: dict[str, float] = {}
    for column, found in results.items():
        for value, entry in found.items():
            stem = f"{PREFIX}subgroup/{_key_part(column)}/{_key_part(value)}/"
            for key, number in entry.items():
                if not key.startswith(PREFIX) or key.endswith("_ci"):
                    continue
                name = stem + key.removeprefix(PREFIX)
                if number is not None:
                    values[name] = float(number)
                bounds = entry.get(f"{key}_ci")
                if bounds:
                    values[f"{name}_ci_low"], values[f"{name}_ci_high"] = map(float, bounds)
    return values


def _key_part(text: str) -> str:
    text = text.replace(">=", "ge").replace("<", "lt")
    return re.sub(r"[^\w.\- ]", "_", text)


def subgroup_table(results: Results) -> Any:
    """A small rich table: per subgroup its size and a few metrics (`SHOWN`, by the task the
    entries' metrics show) as `value [low, high] (gap)`, and the note of a subgroup too small
    for an interval."""
    from rich.table import Table

    first = next(entry for found in results.values() for entry in found.values())
    binary = f"{PREFIX}sensitivity" in first and f"{PREFIX}acc" in first
    task = "binary" if binary else "multiclass" if f"{PREFIX}acc" in first else "multilabel"
    shown = SHOWN[task]
    table = Table(title="test metrics per subgroup (gap: subgroup - all)", title_justify="left")
    for heading in ("subgroup", "n", *shown, "note"):
        table.add_column(heading)
    for column, found in results.items():
        for value, entry in found.items():
            cells = [_shown_metric(entry, name) for name in shown]
            table.add_row(f"{column}={value}", str(entry["n"]), *cells, entry.get("note", ""))
    return table


def _shown_metric(entry: dict[str, Any], name: str) -> str:
    value = entry.get(f"{PREFIX}{name}")
    if value is None:
        return "n/a"
    bounds, gap = entry.get(f"{PREFIX}{name}_ci"), entry.get(f"{PREFIX}{name}_gap")
    text = f"{value:.3f}"
    if bounds:
        text += f" [{bounds[0]:.3f}, {bounds[1]:.3f}]"
    return text + (f" ({gap:+.3f})" if gap is not None else "")
