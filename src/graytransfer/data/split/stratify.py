"""Splits of multi-label and grouped data: iterative stratification and patient groups.

`split_indices` is the one entry point the data modules use: with `groups` (one id per image,
e.g. a patient) whole groups go to train, val or test, so no group is in two splits (for every
task); otherwise multi-label matrices are split by iterative stratification (Sechidis et al.
2011, the `iterative-stratification` package, `pip install graytransfer[multilabel]`) so every
label (and label combination, as far as the sizes allow) keeps its proportion, and class indices
by `graytransfer.data.split.by_class.stratified_split`. `stratified_subset` draws the seeded
`train_subset`/`val_subset`/`test_subset` of a split (class indices or label matrices).

A grouped split stratifies the groups: by each group's most frequent class (one label per
image) or by the union of its labels (multi-label); fractions are then fractions of groups.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from graytransfer.data.split.by_class import check_fractions, stratified_split
from graytransfer.errors import UserError

Split = tuple[np.ndarray, np.ndarray, np.ndarray]


def _shuffle_split():
    try:
        from iterstrat.ml_stratifiers import MultilabelStratifiedShuffleSplit
    except ImportError as err:
        raise UserError(
            "multi-label splits need the iterative-stratification package: "
            "pip install 'graytransfer[multilabel]'"
        ) from err
    return MultilabelStratifiedShuffleSplit


def multilabel_hold_out(
    matrix: np.ndarray, index: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held out): `fraction` of `index` held out, stratified over the columns of
    `matrix` (0/1 per label; unknowns count as 0)."""
    if fraction == 0 or len(index) == 0:
        return index, index[:0]
    if len(index) < 2:
        return index, index[:0]
    splitter = _shuffle_split()(n_splits=1, test_size=fraction, random_state=seed)
    kept, held = next(splitter.split(np.zeros(len(index)), (matrix[index] == 1).astype(int)))
    return index[np.sort(kept)], index[np.sort(held)]


def multilabel_split(labels: np.ndarray, val: float, test: float, seed: int) -> Split:
    """Train, val, test indices of a label matrix (N, L) by iterative stratification."""
    check_fractions(val, test)
    index = np.arange(len(labels))
    rest, test_i = multilabel_hold_out(labels, index, test, seed)
    train_i, val_i = multilabel_hold_out(labels, rest, val / (1 - test) if val else 0.0, seed)
    return train_i, val_i, test_i


def group_split(
    labels: np.ndarray,
    groups: Sequence[str],
    val: float,
    test: float,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> Split:
    """Train, val, test indices with every group (patient) in exactly one split; fewer groups
    than splits to make is a UserError (`check_group_count`)."""
    check_fractions(val, test)
    check_group_count(groups, {"val": val, "test": test}, "data.group_column")
    names = sorted(set(groups))
    where = {g: i for i, g in enumerate(names)}
    member = np.array([where[g] for g in groups])
    if labels.ndim == 2:
        matrix = np.zeros((len(names), labels.shape[1]), dtype=int)
        np.maximum.at(matrix, member, (labels == 1).astype(int))
        parts = multilabel_split(matrix, val, test, seed)
    else:
        votes: dict[int, Counter] = {}
        for g, y in zip(member.tolist(), labels.tolist(), strict=True):
            votes.setdefault(g, Counter())[y] += 1
        per_group = [votes[g].most_common(1)[0][0] for g in range(len(names))]
        parts = stratified_split(per_group, val, test, seed, class_names)
    return tuple(np.flatnonzero(np.isin(member, part)) for part in parts)  # type: ignore[return-value]


def split_indices(
    labels: Sequence,
    val: float,
    test: float,
    seed: int,
    class_names: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
) -> Split:
    """Train, val, test indices of `labels` (class indices (N,) or a label matrix (N, L)):
    by `groups` when given, else stratified (iteratively for a label matrix)."""
    array = np.asarray(labels)
    if groups is not None:
        return group_split(array, groups, val, test, seed, class_names)
    if array.ndim == 2:
        return multilabel_split(array, val, test, seed)
    return stratified_split(array, val, test, seed, class_names)


def check_group_count(groups: Sequence[str], fractions: dict[str, float], where: str) -> None:
    """UserError naming `where` and the groups unless `groups` (one id per training image) hold
    one group for train plus one for each split that `fractions` (split -> fraction of the
    whole, 0: none) splits off them: a group goes to one split whole."""
    wanted = ["train", *(s for s, f in fractions.items() if f)]
    found = sorted(set(groups))
    if len(found) >= len(wanted):
        return
    names = ", ".join(f"'{g}'" for g in found[:3]) + (" ..." if len(found) > 3 else "")
    settings = ", ".join(f"data.{s}_split={fractions[s]:g}" for s in wanted[1:])
    raise UserError(
        f"{where}: the {len(groups)} training image(s) belong to {len(found)} group(s) "
        f"({names}), too few to split by group into {'/'.join(wanted)} ({settings}; each group "
        "goes to one split): add images of more groups, give the splits in the split column, "
        f"set {' and '.join(f'data.{s}_split=0' for s in wanted[1:])}, or unset data.group_column"
    )


def check_groups_apart(groups_by_split: dict[str, Sequence[str]], where: str) -> None:
    """UserError naming a group (patient) found in two of the given splits."""
    seen: dict[str, str] = {}
    for split, groups in groups_by_split.items():
        for group in set(groups):
            if group in seen and seen[group] != split:
                raise UserError(
                    f"{where}: group '{group}' is in both the {seen[group]} and the {split} "
                    "split; put each group (patient) in one split only"
                )
            seen.setdefault(group, split)


def stratified_subset(labels: Sequence[int], size: int | None, seed: int, key: str) -> np.ndarray:
    """Indices of a stratified, seeded subset of `size` items (all of them when `size` is None
    or at least the number of items), in ascending order. A label matrix (N, L) is subset by
    iterative stratification (`multilabel_hold_out`)."""
    labels = np.asarray(labels)
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UserError(f"data.{key}: {size!r} must be a positive number of images (or null)")
    if labels.ndim == 2:
        rest, held = multilabel_hold_out(labels, np.arange(len(labels)), size / len(labels), seed)
        # iterative stratification sizes folds approximately: trim or top up to `size` exactly
        extra = np.random.default_rng(seed).permutation(rest)[: max(0, size - len(held))]
        return np.sort(np.concatenate([held[:size], extra]))
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 and size >= len(counts[counts > 0]) else None
    chosen, _ = train_test_split(
        np.arange(len(labels)), train_size=size, random_state=seed, stratify=stratify
    )
    return np.sort(chosen)
