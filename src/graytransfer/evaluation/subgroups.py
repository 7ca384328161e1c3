"""Every headline test metric per subgroup: does the model work equally for everyone?

`eval.subgroups=[Sex, View]` names CSV columns (`data=csv`); each value of each column is a
subgroup of the test images (a blank cell is the subgroup `(blank)`). A numeric column is binned
with `eval.bins`: `{Age: [40, 60, 80]}` gives the right-open bins `<40`, `40-60` (40 <= x < 60),
`60-80`, `>=80`; `{Age: 4}` gives 4 quantile bins (edges: the quartiles of the test images'
values, repeated edges merged). Per subgroup (`subgroup_metrics`): `n` (images; `groups` too
when the data has groups), each headline metric (`graytransfer.evaluation.reference`) as
`test/<metric>`, its bootstrap interval `test/<metric>_ci` (`Bootstrap.intervals` on the
subgroup's images alone, whole groups resampled when the data has groups) and its gap to the
whole test set `test/<metric>_gap` (subgroup minus whole, the point estimates).

A subgroup too small for an interval (fewer than `MIN_UNITS` images, or groups when grouped, or
a truth with a single class: for multilabel, no label with both a positive and a negative) gets
its point estimates, no interval, and `note` saying why.

Where the results go (`subgroups.csv`, the loggers, the printed table):
`graytransfer.evaluation.subgroup_output`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import Bootstrap
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import headline_names, reference_metrics

#: a subgroup with fewer images (groups, when grouped) than this gets no interval
MIN_UNITS = 10
BLANK = "(blank)"
PREFIX = "test/"
Results = dict[str, dict[str, dict[str, Any]]]  # column -> subgroup -> n, metrics, note


@dataclass(frozen=True)
class SubgroupSpec:
    """The subgroup columns (`eval.subgroups`) and how numeric ones are binned (`eval.bins`:
    column -> increasing edges, or a number of quantile bins >= 2)."""

    columns: tuple[str, ...]
    bins: dict[str, list[float] | int]

    @classmethod
    def of(cls, subgroups: Any, bins: Any = None) -> SubgroupSpec | None:
        """The checked spec of `eval.subgroups` and `eval.bins`; None without subgroups. Bad
        values are one-line UserErrors naming the key."""
        if not subgroups:
            if bins:
                raise UserError(f"eval.bins: {dict(bins)} is set but eval.subgroups is empty")
            return None
        columns = (subgroups,) if isinstance(subgroups, str) else tuple(map(str, subgroups))
        checked: dict[str, list[float] | int] = {}
        for column, rule in dict(bins or {}).items():
            if column not in columns:
                raise UserError(
                    f"eval.bins: column '{column}' is not in eval.subgroups {list(columns)}; "
                    "add it there"
                )
            checked[str(column)] = _check_rule(str(column), rule)
        return cls(columns, checked)

    @classmethod
    def of_config(cls, eval_cfg: Any) -> SubgroupSpec | None:
        """The spec of an `eval` config (`subgroups`, `bins`); None without one."""
        eval_cfg = eval_cfg or {}
        return cls.of(eval_cfg.get("subgroups"), eval_cfg.get("bins"))


def _check_rule(column: str, rule: Any) -> list[float] | int:
    if isinstance(rule, int) and not isinstance(rule, bool):
        if rule < 2:
            raise UserError(f"eval.bins.{column}: {rule} quantile bins; give 2 or more")
        return rule
    try:
        edges = [float(e) for e in rule]
    except (TypeError, ValueError):
        edges = []
    if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise UserError(
            f"eval.bins.{column}: {rule!r} is neither increasing bin edges (e.g. [40, 60, 80]) "
            "nor a number of quantile bins (e.g. 4)"
        )
    return edges


def subgroup_columns(spec: SubgroupSpec, data: Any, ids: Sequence[str]) -> dict[str, list[str]]:
    """Each subgroup column's raw cell for every image `ids` (the data's test ids): what
    `predictions.csv` shows. No columns on the data, or a column not in it: a UserError."""
    check_columns(spec, data)
    by_file = {str(path): cells for path, cells in data.column_values(spec.columns).items()}
    return {c: [by_file.get(str(i), {}).get(c, "") for i in ids] for c in spec.columns}


def check_subgroup_data(eval_cfg: Any, data: Any) -> None:
    """Before any work: `eval.subgroups`/`eval.bins` are well formed, the data has each
    subgroup column (`check_columns`) and a binned column holds numbers in every row (of every
    split); one-line UserErrors."""
    spec = SubgroupSpec.of_config(eval_cfg)
    if spec is None:
        return
    check_columns(spec, data)
    if spec.bins:
        cells = list(data.column_values(list(spec.bins)).values())
        for column, rule in spec.bins.items():
            bin_labels(column, [row[column] for row in cells], rule)


def check_columns(spec: SubgroupSpec, data: Any) -> None:
    """UserError (one line) when `data` has no columns (not CSV data) or lacks a subgroup
    column, listing the columns it has."""
    columns = getattr(data, "columns", None)
    if not isinstance(columns, list) or not hasattr(data, "column_values"):
        raise UserError(
            f"eval.subgroups={list(spec.columns)} needs CSV columns (data=csv), but "
            f"{type(data).__name__} has none; unset eval.subgroups"
        )
    for column in spec.columns:
        if column not in columns:
            raise UserError(
                f"eval.subgroups: column '{column}' is not in data.csv '{data.csv}' "
                f"(columns: {columns})"
            )


def subgroup_labels(spec: SubgroupSpec, cells: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each image's subgroup per column: its cell, or its bin for a binned column."""
    return {
        column: bin_labels(column, values, spec.bins[column]) if column in spec.bins else
        [v or BLANK for v in values]
        for column, values in cells.items()
    }  # fmt: skip


def bin_labels(column: str, values: Sequence[str], rule: list[float] | int) -> list[str]:
    """The bin of each value (`<a`, `a-b`, `>=z`; blank: `(blank)`) by edges or quantiles; a
    value that is not a number is a UserError naming the column and the value."""
    numbers = np.full(len(values), np.nan)
    for i, value in enumerate(values):
        if value.strip():
            try:
                numbers[i] = float(value)
            except ValueError:
                raise UserError(
                    f"eval.bins.{column}: column '{column}' holds '{value}', not a number; "
                    f"bin only numeric columns (or drop {column} from eval.bins)"
                ) from None
    edges = rule if isinstance(rule, list) else _quantile_edges(numbers, rule)
    names = bin_names(edges)
    which = np.searchsorted(np.asarray(edges, dtype=float), numbers, side="right")
    return [BLANK if math.isnan(x) else names[k] for x, k in zip(numbers, which, strict=True)]


def _quantile_edges(numbers: np.ndarray, count: int) -> list[float]:
    found = numbers[np.isfinite(numbers)]
    if len(found) == 0:
        return []
    inner = np.quantile(found, np.linspace(0, 1, count + 1)[1:-1])
    return sorted({float(e) for e in inner})


def bin_names(edges: Sequence[float]) -> list[str]:
    """`<e0`, `e0-e1`, ..., `>=ek` (len(edges) + 1 names; one name `all` without edges)."""
    if not edges:
        return ["all"]
    shown = [f"{e:g}" for e in edges]
    middle = [f"{a}-{b}" for a, b in zip(shown, shown[1:], strict=False)]
    return [f"<{shown[0]}", *middle, f">={shown[-1]}"]


def too_small(preds: Predictions) -> str | None:
    """Why a subgroup's predictions get no interval (None: they do)."""
    grouped = preds.groups is not None
    units = len(set(preds.groups)) if grouped else len(preds)
    kind = "groups" if grouped else "images"
    if units < MIN_UNITS:
        return f"too small for an interval: {units} {kind} (fewer than {MIN_UNITS})"
    targets = preds.targets
    if preds.task == "multilabel":
        both = ((targets == 1).any(axis=0) & (targets == 0).any(axis=0)).any()
        return None if both else "no interval: no label has both positives and negatives"
    present = np.unique(preds.labels)
    if len(present) < 2:
        return f"no interval: one class only ({preds.class_names[int(present[0])]})"
    return None


def subset(preds: Predictions, mask: np.ndarray) -> Predictions:
    """The predictions of the images where `mask` is true (same task, names, thresholds)."""
    return replace(preds.take(np.flatnonzero(mask)), columns=None)


def subgroup_metrics(
    preds: Predictions,
    labels: Mapping[str, Sequence[str]],
    bootstrap: Bootstrap,
    run_seed: int | None = None,
) -> Results:
    """{column: {subgroup: entry}} (see the module docstring), subgroups in bin order or sorted;
    the intervals use `bootstrap` (its resamples, seed, confidence; none when it has 0)."""
    names = headline_names(preds)
    whole = reference_metrics(preds)
    results: Results = {}
    for column, values in labels.items():
        values = np.asarray(values, dtype=object)
        results[column] = {}
        for value in _ordered(list(values)):
            sub = subset(preds, values == value)
            entry: dict[str, Any] = {"n": len(sub)}
            if sub.groups is not None:
                entry["groups"] = len(set(sub.groups))
            note = too_small(sub)
            found = None if note else bootstrap.intervals(sub, run_seed)
            points = reference_metrics(sub)
            for name in names:
                point, bounds = _number(points[name]), found and found.bounds.get(name)
                entry[f"{PREFIX}{name}"] = point
                entry[f"{PREFIX}{name}_ci"] = list(bounds) if bounds else None
                gap = None if point is None else _number(point - whole[name])
                entry[f"{PREFIX}{name}_gap"] = gap
            if note:
                entry["note"] = note
            results[column][value] = entry
    return results


def _ordered(values: list[str]) -> list[str]:
    """Bins in their order (`<a` first, `>=z` last), other values sorted (numbers as numbers),
    `(blank)` last."""
    seen = list(dict.fromkeys(values))
    rank = {"<": 0, ">": 2}

    def key(value: str) -> tuple:
        if value == BLANK:
            return (3, 0.0, value)
        number = re.match(r"^(<|>=)?(-?[0-9.]+(?:e[-+]?\d+)?)", value)
        if number:
            return (rank.get(value[:1], 1), float(number.group(2)), value)
        return (1, math.inf, value)

    return sorted(seen, key=key)


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None
