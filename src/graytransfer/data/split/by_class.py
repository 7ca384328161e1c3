"""Stratified, seeded train/val/test splits of class indices (multi-label and grouped splits:
`graytransfer.data.split.stratify`)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from graytransfer.errors import UserError


def stratified_split(
    labels: Sequence[int],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    class_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, val and test, each class in the same proportion, fixed by `seed`.

    Fractions are of the whole set; a fraction of 0 gives an empty split. A class with a single
    image stays in train (one warning names it, by `class_names` when given); the others are
    still stratified. A split too small to hold one image of every class is a UserError that
    says how large to make it.
    """
    labels = np.asarray(labels)
    check_fractions(val_fraction, test_fraction)
    index = np.arange(len(labels))
    counts = np.bincount(labels) if len(labels) else np.zeros(0, dtype=int)
    single = np.flatnonzero(counts == 1)
    if len(single) and (val_fraction or test_fraction):
        names = [str(class_names[c]) if class_names is not None else str(c) for c in single]
        shown = ", ".join(f"'{n}'" for n in names[:10]) + (" ..." if len(names) > 10 else "")
        warnings.warn(
            f"{len(single)} class(es) have a single image and stay in training only (no val/test "
            f"image): {shown}; add images of them to evaluate them",
            UserWarning,
            stacklevel=2,
        )
    total = len(labels)
    rest, test = _split(index, labels, test_fraction, seed, "test_split", test_fraction, total)
    val_of_rest = val_fraction / (1 - test_fraction)
    train, val = _split(rest, labels[rest], val_of_rest, seed, "val_split", val_fraction, total)
    return train, val, test


def check_fractions(val_fraction: float, test_fraction: float) -> None:
    """UserError unless both fractions are in [0, 1) and leave some training images."""
    for key, value in (("val_split", val_fraction), ("test_split", test_fraction)):
        if not 0 <= value < 1:
            raise UserError(f"data.{key}: {value} must be in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"data.val_split + data.test_split = {val_fraction + test_fraction} leaves no "
            "training images; make their sum less than 1"
        )


def _split(
    index: np.ndarray,
    labels: np.ndarray,
    fraction: float,
    seed: int,
    key: str,
    given: float,
    total: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(kept, split off): `fraction` of `index` split off, stratified over the classes with 2+
    images here; a class with one image here stays on the kept side. `key`/`given` (the
    user's setting) and `total` (all images) word the advice when the split cannot work."""
    if fraction == 0 or len(index) == 0:
        return index, index[:0]
    counts = np.bincount(labels)
    alone = np.isin(labels, np.flatnonzero(counts == 1))
    pool = index[~alone]
    classes = int((counts >= 2).sum())
    if not len(pool):
        raise UserError(
            f"data.{key}={given:g}: each of the {len(index)} item(s) left to split (images, or "
            "groups with data.group_column) is the only one of its class, so none can be split "
            f"off stratified: add images, give the split in the data, or set data.{key}=0"
        )
    taken = int(np.ceil(fraction * len(pool)))
    if taken < classes:
        raise UserError(
            f"data.{key}={given:g} gives {taken} image(s) for {classes} classes, too few to hold "
            f"one image of each class: raise data.{key} to at least {classes / total:.2f}, add "
            f"images, or set data.{key}=0"
        )
    if len(pool) - taken < classes:
        raise UserError(
            f"data.{key}={given:g} leaves {len(pool) - taken} image(s) for {classes} classes, too "
            f"few to keep one of each class for training: lower data.{key} or add images"
        )
    kept, held = train_test_split(
        pool, test_size=fraction, random_state=seed, stratify=labels[~alone]
    )
    return np.concatenate([kept, index[alone]]), held
