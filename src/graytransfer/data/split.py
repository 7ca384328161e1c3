"""Stratified, seeded train/val/test splits."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import train_test_split

from graytransfer.errors import UserError


def stratified_split(
    labels: Sequence[int], val_fraction: float, test_fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices of train, val and test, each class in the same proportion, fixed by `seed`.

    Fractions are of the whole set; a fraction of 0 gives an empty split.
    """
    labels = np.asarray(labels)
    for key, value in (("val_split", val_fraction), ("test_split", test_fraction)):
        if not 0 <= value < 1:
            raise UserError(f"data.{key}: {value} must be in [0, 1)")
    if val_fraction + test_fraction >= 1:
        raise UserError(
            f"data.val_split + data.test_split = {val_fraction + test_fraction} leaves no "
            "training images; make their sum less than 1"
        )
    index = np.arange(len(labels))
    rest, test = _split(index, labels, test_fraction, seed)
    val_of_rest = val_fraction / (1 - test_fraction)
    train, val = _split(rest, labels[rest], val_of_rest, seed)
    return train, val, test


def _split(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int):
    if fraction == 0:
        return index, index[:0]
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 else None
    try:
        return train_test_split(index, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as err:
        raise UserError(
            f"cannot split {len(index)} images with fraction {fraction}: {err}; use more images "
            "or smaller data.val_split / data.test_split"
        ) from err


def stratified_subset(labels: Sequence[int], size: int | None, seed: int, key: str) -> np.ndarray:
    """Indices of a stratified, seeded subset of `size` items (all of them when `size` is None
    or at least the number of items), in ascending order."""
    labels = np.asarray(labels)
    if size is None or size >= len(labels):
        return np.arange(len(labels))
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise UserError(f"data.{key}: {size!r} must be a positive number of images (or null)")
    counts = np.bincount(labels)
    stratify = labels if counts[counts > 0].min() >= 2 and size >= len(counts[counts > 0]) else None
    chosen, _ = train_test_split(
        np.arange(len(labels)), train_size=size, random_state=seed, stratify=stratify
    )
    return np.sort(chosen)
