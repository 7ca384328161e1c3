"""Cross-validation on a set-up data module: its train and val splits pooled, fold k held out.

`hold_out_fold(data, cv)` is called once after `setup()` (`graytransfer.model.build.build_data`):
the test split is left exactly as the data made it (an explicit test split, e.g. a CSV split
column or Fashion-MNIST's own test set, or the one carved off first by `data.test_split`), and
the rest (train + val) is folded by `graytransfer.data.split.folds.assign_folds` with the data's
seed and, when the data has a group column, its groups. Fold `cv.fold` becomes the val split and
the other folds the train split (with the data's training augmentation). The assignment is kept
as `data.folds_csv` (the text of `folds.csv`).

Every data path that holds its images as `InMemoryImages` or `ImageFiles` (digits, the MNIST
family, MedMNIST, textures, folder, csv) can be folded; shard folders hold their splits fixed
and are refused in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from graytransfer.data.split.folds import CrossValidation, assign_folds, folds_csv
from graytransfer.data.store.file_images import ImageFiles
from graytransfer.data.store.in_memory import InMemoryImages
from graytransfer.errors import UserError


def hold_out_fold(data: Any, cv: CrossValidation) -> None:
    """Replace `data`'s train and val splits by fold `cv.fold`'s (see the module docstring);
    nothing when `cv` is off."""
    if not cv.active:
        return
    parts = [s for s in (data.train_set, data.val_set) if s is not None and len(s)]
    kinds = {type(s) for s in parts}
    if not parts or not kinds <= {InMemoryImages, ImageFiles} or len(kinds) > 1:
        raise UserError(
            f"cv.folds={cv.folds}: {type(data).__name__} holds its splits as "
            f"{sorted(k.__name__ for k in kinds)}, which cannot be folded (shard folders keep "
            "their splits fixed); use the source data (data=csv or data=folder) for "
            "cross-validation, or set cv.folds=0"
        )
    ids = [str(i) for s in parts for i in s.ids]
    labels = torch.cat([s.labels for s in parts])
    groups = _groups(ids, getattr(data, "groups", None))
    fold_of = assign_folds(labels.numpy(), cv.folds, data.seed, groups)
    held = np.flatnonzero(fold_of == cv.fold)
    kept = np.flatnonzero(fold_of != cv.fold)
    data.train_set = _subset(parts, kept, data.train_transform)
    data.val_set = _subset(parts, held, None)
    data.folds_csv = folds_csv(ids, fold_of, groups)


def _groups(ids: Sequence[str], groups: dict[Any, str] | None) -> list[str] | None:
    """Each pooled image's group ({path: group} of a data module with a group column)."""
    if not groups:
        return None
    by_id = {str(path): group for path, group in groups.items()}
    return [by_id[item] for item in ids]


def _subset(parts: list[Any], index: np.ndarray, transform: Any) -> Any:
    """The images `index` of the pooled `parts` (all of one type) as a new dataset of that
    type, read through `transform`."""
    first = parts[0]
    labels = torch.cat([s.labels for s in parts])[index]
    if isinstance(first, InMemoryImages):
        images = torch.cat([s.images for s in parts])[index]
        ids = [i for s in parts for i in s.ids]
        return InMemoryImages(images, labels, [ids[i] for i in index], transform, size=first.size)
    paths = [p for s in parts for p in s.paths]
    return ImageFiles(
        [paths[i] for i in index],
        labels.tolist(),
        first.size,
        first.scale16,
        first.dicom_window,
        transform,
        on_bad_file=first.on_bad_file,
        dtype=first.dtype,
    )
