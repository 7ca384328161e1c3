"""k-fold cross-validation folds: which fold each training image is held out in.

`CrossValidation` is the `cv` config group's object (`conf/cv/kfold.yaml`): `folds` (0: off) and
`fold` (the held-out fold of this run, 0..folds-1). `assign_folds` gives every image of the pool
(the data's train and val splits together; the test split is never folded) its fold:

- one label per image (multiclass, binary): scikit-learn's `StratifiedKFold`, or
  `StratifiedGroupKFold` when groups (patients) are given, so no group is in two folds;
- a label matrix (multi-label): iterative stratification (`MultilabelStratifiedKFold` of the
  `iterative-stratification` package), over groups when given (a group's labels are the union of
  its images' labels; the group's images go to its fold);
- shuffled by `seed` (0 is a seed like any other): the same data and seed give the same folds.

A fold count larger than the smallest class (or label) count, or than the number of groups, is
a UserError naming both numbers and `cv.folds`. `folds_csv` writes the assignment as `folds.csv`
(`id`, `group` when there are groups, `fold`).

Imports nothing of `graytransfer.data` outside this package.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from graytransfer.errors import UserError


@dataclass(frozen=True)
class CrossValidation:
    """`folds`: how many folds (0: no cross-validation, the data's own val split); `fold`: the
    fold this run holds out as its val split (0..folds-1). `python train.py -m cv.folds=5`
    sweeps `cv.fold` over 0..4 (`graytransfer.cli.fold_sweep`)."""

    folds: int = 0
    fold: int | None = None

    def __post_init__(self) -> None:
        folds, fold = self.folds, self.fold
        if isinstance(folds, bool) or not isinstance(folds, int) or folds < 0 or folds == 1:
            raise UserError(f"cv.folds: {folds!r} must be 0 (off) or a number of folds >= 2")
        if fold is not None and (isinstance(fold, bool) or not isinstance(fold, int)):
            raise UserError(f"cv.fold: {fold!r} must be a fold number 0..cv.folds-1")
        if folds == 0 and fold is not None:
            raise UserError(
                f"cv.fold={fold} needs cv.folds: give the number of folds, e.g. cv.folds=5"
            )
        if folds and fold is None:
            raise UserError(
                f"cv.folds={folds} trains one run per fold: give cv.folds={folds} with -m on the "
                f"command line (python train.py -m cv.folds={folds} sweeps cv.fold=0..{folds - 1})"
                ", or pick one fold with cv.fold=K"
            )
        if folds and not 0 <= fold < folds:
            raise UserError(f"cv.fold={fold} is outside 0..{folds - 1} (cv.folds={folds})")

    @property
    def active(self) -> bool:
        return self.folds > 0

    @classmethod
    def of(cls, cfg: Any) -> CrossValidation:
        """The settings of a run config's `cv` (off when the config has none), checked."""
        cv = cfg.get("cv") if cfg is not None else None
        if not cv:
            return cls()
        return cls(folds=cv.get("folds", 0) or 0, fold=cv.get("fold"))


def assign_folds(
    labels: Sequence | np.ndarray,
    folds: int,
    seed: int,
    groups: Sequence[str] | None = None,
) -> np.ndarray:
    """The fold (0..folds-1) of every image: stratified by `labels` (class indices (N,) or a
    label matrix (N, L) of 1/0/-1), whole `groups` (one id per image) kept in one fold, shuffled
    by `seed`. UserError (naming `cv.folds` and the count) when a class/label or the groups are
    too few for `folds`."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return _multilabel_folds(labels, folds, seed, groups)
    _check_class_counts(np.bincount(labels) if len(labels) else np.zeros(0, int), folds)
    fold_of = np.full(len(labels), -1, dtype=np.int64)
    if groups is None:
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(labels)), labels)
    else:
        _check_group_count(groups, folds)
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        parts = splitter.split(np.zeros(len(labels)), labels, np.asarray(groups))
    for k, (_, held) in enumerate(parts):
        fold_of[held] = k
    _check_every_fold_used(fold_of, folds)
    return fold_of


def _multilabel_folds(
    labels: np.ndarray, folds: int, seed: int, groups: Sequence[str] | None
) -> np.ndarray:
    """Folds of a label matrix by iterative stratification, over groups when given."""
    positive = (labels == 1).astype(int)
    counts = positive.sum(axis=0)
    _check_class_counts(counts, folds, what="label")
    if groups is None:
        member, matrix = np.arange(len(labels)), positive
    else:
        _check_group_count(groups, folds)
        names = sorted(set(groups))
        where = {g: i for i, g in enumerate(names)}
        member = np.array([where[g] for g in groups])
        matrix = np.zeros((len(names), labels.shape[1]), dtype=int)
        np.maximum.at(matrix, member, positive)
    splitter = _multilabel_kfold()(n_splits=folds, shuffle=True, random_state=seed)
    unit_fold = np.full(len(matrix), -1, dtype=np.int64)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(matrix)), matrix)):
        unit_fold[held] = k
    fold_of = unit_fold[member]
    _check_every_fold_used(fold_of, folds)
    return fold_of


def _multilabel_kfold():
    try:
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold
    except ImportError as err:
        raise UserError(
            "multi-label folds need the iterative-stratification package: "
            "pip install 'graytransfer[multilabel]'"
        ) from err
    return MultilabelStratifiedKFold


def _check_class_counts(counts: np.ndarray, folds: int, what: str = "class") -> None:
    """Every class (label) that occurs needs an image in each fold."""
    present = counts[counts > 0]
    if len(present) and present.min() < folds:
        smallest = int(np.flatnonzero(counts == present.min())[0])
        raise UserError(
            f"cv.folds={folds} is larger than the smallest {what} count: {what} {smallest} has "
            f"{int(present.min())} image(s) in the train+val pool; lower cv.folds to at most "
            f"{int(present.min())} or add images"
        )


def _check_group_count(groups: Sequence[str], folds: int) -> None:
    found = len(set(groups))
    if found < folds:
        raise UserError(
            f"cv.folds={folds} is larger than the group count: the train+val pool holds "
            f"{found} group(s) of data.group_column (each group goes to one fold); lower "
            f"cv.folds to at most {found} or add groups"
        )


def _check_every_fold_used(fold_of: np.ndarray, folds: int) -> None:
    empty = sorted(set(range(folds)) - set(fold_of.tolist()))
    if empty:
        raise UserError(
            f"cv.folds={folds}: fold(s) {empty} got no image (too few images or groups to "
            "stratify into that many folds); lower cv.folds"
        )


def folds_csv(ids: Sequence[str], fold_of: np.ndarray, groups: Sequence[str] | None) -> str:
    """`folds.csv` text: `id`, `group` (when given), `fold`; one row per pooled image, in
    pool order."""
    text = io.StringIO(newline="")
    writer = csv.writer(text)
    writer.writerow(["id", *(["group"] if groups is not None else []), "fold"])
    for i, item in enumerate(ids):
        writer.writerow([item, *([groups[i]] if groups is not None else []), int(fold_of[i])])
    return text.getvalue()
