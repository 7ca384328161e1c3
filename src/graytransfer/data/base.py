"""What every grayscale data module shares: (H, W) sizes, uint8 loaders, class names,
augmentation presets, class-imbalance options and the split record written to the run folder."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import lightning as L
import torch
from lightning.pytorch.accelerators import CUDAAccelerator
from torch.utils.data import DataLoader, Dataset, WeightedRandomSampler

from graytransfer.data.augment import build_augment
from graytransfer.data.labels import describe_label, label_counts, positive_weights
from graytransfer.data.sampler import eval_sampler
from graytransfer.errors import UserError

NATIVE = "native"
BALANCE = ("none", "loss", "sampler")
SPLITS = ("train", "val", "test")
#: the dtypes a data module's batches may hold: 8 bits, or full depth (16-bit files, DICOM)
PIXEL_DTYPES = (torch.uint8, torch.uint16, torch.int16)


@dataclass(frozen=True)
class PixelValues:
    """What the model's intensity mapping needs to know about a data module's batches: their
    `dtype` (uint8; uint16 / int16 at full depth), the measured `value_range` (min, max; 0..255
    at 8 bits) and a DICOM set's own `voi_window` (center, width), else None. Checked when
    made, so a module that sets them wrongly stops at setup, not at the first batch."""

    dtype: torch.dtype = torch.uint8
    value_range: tuple[float, float] = (0.0, 255.0)
    voi_window: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in PIXEL_DTYPES:
            raise TypeError(f"pixel dtype {self.dtype} is not one of {list(PIXEL_DTYPES)}")
        low, high = (float(v) for v in self.value_range)
        if not low <= high:
            raise ValueError(f"value_range ({low:g}, {high:g}): min is above max")
        object.__setattr__(self, "value_range", (low, high))
        if self.voi_window is not None:
            center, width = (float(v) for v in self.voi_window)
            object.__setattr__(self, "voi_window", (center, width))


def as_size(image_size: int | Sequence[int], key: str = "data.image_size") -> tuple[int, int]:
    """`32` -> (32, 32); `[84, 112]` -> (84, 112). Sizes are (H, W) and at least 8 pixels."""
    if isinstance(image_size, str):
        raise UserError(
            f"{key}: '{image_size}' is not a size; give an int, [H, W] or 'native' "
            "(the model's own size)"
        )
    if isinstance(image_size, int):
        size = (image_size, image_size)
    else:
        size = tuple(int(v) for v in image_size)
    if len(size) != 2 or min(size) < 8:
        raise UserError(f"{key}: {list(size)} is not a valid (H, W) of at least 8x8 pixels")
    return size  # type: ignore[return-value]


def default_workers() -> int:
    """min(cpus - 1, 8): leave a core to the training loop."""
    return max(0, min((os.cpu_count() or 1) - 1, 8))


def class_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Images per class, or positives per label for a multi-label matrix (N, L)."""
    return label_counts(labels, num_classes)


class GrayscaleDataModule(L.LightningDataModule):
    """Base for data modules that yield `(uint8 (N, 1, H, W), int64 labels)` batches.

    Subclasses set `self.train_set`, `self.val_set`, `self.test_set` (datasets with `labels` and
    `ids`) and `self.class_names` in `setup()`, giving the train set `self.train_transform`.
    Float conversion and normalisation are the model's job, on its device.

    What the model's intensity mapping needs to know about the values is one typed property
    that every data module has, `pixel_values` (a `PixelValues`; `input_values_of` in
    `graytransfer.model.build` reads it and nothing else): made from `dtype` (uint8 here;
    uint16 / int16 at full depth), `value_range` (the measured (min, max); 0..255 at 8 bits) and
    `voi_window` (a DICOM set's own (center, width), else None). A module that holds full-depth
    data sets all three in `setup()`.

    `augment`: `none|light|strong` (see `graytransfer.data.augment`), `hflip`/`vflip` off by
    default. `balance`: `none`; `loss` weights the cross-entropy by inverse class frequency
    (`loss_class_weights()`); `sampler` draws training images with probability inversely
    proportional to their class size (with replacement; Lightning distributes it under DDP).
    """

    def __init__(
        self,
        image_size: int | Sequence[int],
        batch_size: int = 64,
        num_workers: int | None = None,
        seed: int | None = 0,
        augment: str = "none",
        hflip: bool = False,
        vflip: bool = False,
        balance: str = "none",
    ) -> None:
        super().__init__()
        self.image_size = as_size(image_size)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError(f"data.batch_size: {batch_size!r} must be a positive integer")
        self.batch_size = batch_size
        self.num_workers = default_workers() if num_workers is None else int(num_workers)
        self.seed = 0 if seed is None else int(seed)
        if balance not in BALANCE:
            raise UserError(f"data.balance: '{balance}' is not one of {list(BALANCE)}")
        self.balance = balance
        self.augment = augment
        self.train_transform = build_augment(augment, self.image_size, hflip, vflip)
        self.class_names: list[str] = []
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.bad_files: list = []
        self.value_range: tuple[float, float] = (0.0, 255.0)
        self.voi_window: tuple[float, float] | None = None

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the image batches (uint8 unless a full-depth module says otherwise)."""
        return torch.uint8

    @property
    def pixel_values(self) -> PixelValues:
        """The batches' dtype, measured value range and DICOM window (final after `setup()`)."""
        return PixelValues(self.dtype, self.value_range, self.voi_window)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def _pin_memory(self) -> bool:
        """Pinned (page-locked) batches only when the trainer (or, without one, torch) uses CUDA."""
        trainer = getattr(self, "trainer", None)
        if trainer is not None:
            return isinstance(trainer.accelerator, CUDAAccelerator)
        return torch.cuda.is_available()

    def _train_counts(self) -> torch.Tensor:
        if self.train_set is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return class_counts(self.train_set.labels, self.num_classes)

    def loss_class_weights(self) -> list[float] | None:
        """Inverse-frequency weights (mean 1 over present classes) when `balance=loss`."""
        if self.balance != "loss":
            return None
        if self.train_set.labels.ndim == 2:  # multi-label: BCE pos_weight per label
            return positive_weights(self.train_set.labels)
        counts = self._train_counts().double()
        weights = torch.where(counts > 0, counts.sum() / (counts.clamp(min=1) * len(counts)), 0.0)
        return [float(w) for w in weights]

    def _sampler(self) -> WeightedRandomSampler | None:
        """One seeded sampler per module: each epoch (and each new loader) draws anew."""
        if self.balance != "sampler":
            return None
        if getattr(self, "_weighted_sampler", None) is None:
            if self.train_set.labels.ndim == 2:
                raise UserError(
                    "data.balance=sampler draws by class and the data is multi-label: use "
                    "data.balance=loss (a BCE pos_weight per label)"
                )
            counts = self._train_counts().double()
            per_item = (1.0 / counts.clamp(min=1))[self.train_set.labels]
            generator = torch.Generator().manual_seed(self.seed)
            self._weighted_sampler = WeightedRandomSampler(
                per_item, len(per_item), replacement=True, generator=generator
            )
        return self._weighted_sampler

    def _loader(self, dataset: Dataset | None, train: bool) -> DataLoader:
        if dataset is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        # under DDP, validation/test score each image once (graytransfer.data.sampler)
        sampler = self._sampler() if train else eval_sampler(dataset)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            shuffle=train and sampler is None,
            sampler=sampler,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            persistent_workers=self.num_workers > 0,
            # a last training batch of one image breaks batch norm; drop only that one
            drop_last=train and len(dataset) % self.batch_size == 1,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self.test_set, train=False)

    def _splits(self) -> dict[str, Dataset]:
        sets = {"train": self.train_set, "val": self.val_set, "test": self.test_set}
        return {name: s for name, s in sets.items() if s is not None}

    def describe(self) -> str:
        """One line for summaries: name, sizes of the splits, image size."""
        sizes = [
            len(s) if s is not None else 0 for s in (self.train_set, self.val_set, self.test_set)
        ]
        h, w = self.image_size
        return (
            f"{type(self).__name__}: {self.num_classes} classes, train/val/test "
            f"{sizes[0]}/{sizes[1]}/{sizes[2]}, {h}x{w}"
        )

    def split_record(self) -> tuple[dict, str, list]:
        """What the run folder keeps of the data (`RunFolder.write_split`): the classes record
        (names, per-split class counts, image size, description), the split as CSV text (split,
        id, label, class: one row per image) and the files skipped as bad."""
        splits = self._splits()
        counts = {
            name: class_counts(s.labels, self.num_classes).tolist() for name, s in splits.items()
        }
        record = {
            "classes": self.class_names,
            "counts": counts,
            "image_size": list(self.image_size),
            "data": self.describe(),
        }
        rows = io.StringIO(newline="")
        writer = csv.writer(rows)
        writer.writerow(["split", "id", "label", "class"])
        for name, s in splits.items():
            for item, label in zip(s.ids, s.labels.tolist(), strict=True):
                writer.writerow([name, item, *describe_label(label, self.class_names)])
        return record, rows.getvalue(), list(self.bad_files)
