"""The test split's per-image predictions: what `predictions.csv` holds and what the intervals
are computed from.

`Predictions` keeps, in the data's test order, each image's id (and group), its true label(s),
the model's probabilities and the task's decisions (the argmax class; for multilabel and binary
`p >= threshold` at the thresholds stored in the checkpoint). `rows()` is the CSV, header first:

- `id`, `group` (only when the data has a group column), `split`;
- the subgroup columns (`eval.subgroups`: each image's CSV cell, one column each, named as in
  the CSV; a name already taken gets ` (csv)`);
- the truth: multiclass `label` (class index) and `class` (its name); binary `label` (0/1);
  multilabel one column per label name (1, 0, or -1 unknown);
- `p_<class or label>`: the probabilities (binary: of the positive class only);
- the decisions: multiclass `pred` and `pred_class`; multilabel and binary `pred_<label>` (0/1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

TASKS = ("multiclass", "binary", "multilabel")
#: column names of predictions.csv that a subgroup column cannot take
RESERVED = ("id", "group", "split", "label", "class", "pred", "pred_class")


@dataclass
class Predictions:
    """Every test image's probabilities (N, outputs) and labels as the data yields them
    ((N,) class indices, or (N, L) of 1/0/-1 for multilabel), with `names` naming the outputs
    (the classes; binary: the positive class; multilabel: the labels)."""

    task: str
    names: list[str]
    class_names: list[str]
    probs: np.ndarray
    labels: np.ndarray
    ids: list[str]
    thresholds: np.ndarray | None = None
    groups: list[str] | None = None
    split: str = "test"
    #: CSV column -> each image's cell (`eval.subgroups`), shown in `rows()`
    columns: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task '{self.task}' is not one of {list(TASKS)}")
        self.probs = np.asarray(self.probs, dtype=np.float64).reshape(len(self.ids), -1)
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if self.thresholds is not None:
            self.thresholds = np.asarray(self.thresholds, dtype=np.float64).reshape(-1)
        if self.groups is not None and len(self.groups) != len(self.ids):
            raise ValueError(f"{len(self.groups)} groups for {len(self.ids)} images")

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, index: Sequence[int] | np.ndarray) -> Predictions:
        """The predictions of the images at `index` (in that order, repeats allowed: a bootstrap
        resample), with their groups and columns; task, names and thresholds unchanged."""
        index = np.asarray(index, dtype=np.int64)
        return replace(
            self,
            probs=self.probs[index],
            labels=self.labels[index],
            ids=[self.ids[i] for i in index],
            groups=None if self.groups is None else [self.groups[i] for i in index],
            columns=None
            if self.columns is None
            else {k: [v[i] for i in index] for k, v in self.columns.items()},
        )

    @property
    def targets(self) -> np.ndarray:
        """The 0/1/-1 target matrix (N, outputs): one-hot classes, the binary label as one
        column, or the multilabel matrix."""
        if self.task == "multiclass":
            return (self.labels[:, None] == np.arange(self.probs.shape[1])).astype(np.int64)
        return self.labels.reshape(len(self), -1)

    @property
    def decisions(self) -> np.ndarray:
        """The argmax class (N,) for multiclass; else 0/1 (N, outputs) at `p >= threshold`."""
        if self.task == "multiclass":
            return self.probs.argmax(axis=1)
        thresholds = self.thresholds
        if thresholds is None:
            thresholds = np.full(len(self.names), 0.5)
        return (self.probs >= thresholds[None, :]).astype(np.int64)

    def rows(self) -> list[list[Any]]:
        """`predictions.csv`: the header, then one row per image (see the module docstring)."""
        header: list[Any] = ["id", *(["group"] if self.groups is not None else []), "split"]
        extra = self.columns or {}
        taken = {*RESERVED, *self.names, *self._p(), *(f"pred_{n}" for n in self.names)}
        header += [f"{c} (csv)" if c in taken else c for c in extra]
        if self.task == "multiclass":
            header += ["label", "class", *self._p(), "pred", "pred_class"]
        elif self.task == "binary":
            header += ["label", *self._p(), *(f"pred_{n}" for n in self.names)]
        else:
            header += [*self.names, *self._p(), *(f"pred_{n}" for n in self.names)]
        decided = self.decisions.tolist()
        rows = [header]
        for i, image in enumerate(self.ids):
            group = [self.groups[i]] if self.groups is not None else []
            row: list[Any] = [image, *group, self.split, *(cells[i] for cells in extra.values())]
            probs = [_probability(p) for p in self.probs[i]]
            if self.task == "multiclass":
                label, pred = int(self.labels[i]), int(decided[i])
                row += [label, self.class_names[label], *probs, pred, self.class_names[pred]]
            else:
                row += [*np.atleast_1d(self.labels[i]).tolist(), *probs, *decided[i]]
            rows.append(row)
        return rows

    def _p(self) -> list[str]:
        return [f"p_{name}" for name in self.names]


def _probability(value: float) -> str:
    return f"{value:.6g}"


def groups_of(ids: Sequence[str], groups: dict[Any, str] | None) -> list[str] | None:
    """Each id's group from a data module's `groups` ({path: group}), or None without one."""
    if not groups:
        return None
    by_id = {str(path): group for path, group in groups.items()}
    return [by_id.get(str(item), "") for item in ids]
