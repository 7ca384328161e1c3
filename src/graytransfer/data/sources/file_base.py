"""The shared part of data modules that read image files: scan, skip, split, cache."""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from graytransfer.data.augment import build_augment
from graytransfer.data.base import SPLITS, GrayscaleDataModule
from graytransfer.data.decode.depth import check_bit_depth, resolve_depth, stored_dtype, value_range
from graytransfer.data.decode.dicom import check_window, first_window
from graytransfer.data.decode.gray import check_file, check_scale16, decode
from graytransfer.data.decode.jpeg import check_jpeg_complete
from graytransfer.data.decode.scan import BadFile, check_on_bad_file, report_bad_files, scan_files
from graytransfer.data.split.stratify import split_indices
from graytransfer.data.store.file_images import ImageFiles
from graytransfer.data.store.in_memory import InMemoryImages
from graytransfer.errors import UserError

#: `cache=auto` keeps decoded images in memory up to this many bytes
CACHE_AUTO_BYTES = 2 * 1024**3
#: without a full scan or a cache, the full-depth value range is measured on this many files

SCANS = ("full", "quick", "none")

#: split name -> (paths, labels)
Items = dict[str, tuple[list[Path], list[int]]]


class FileDataModule(GrayscaleDataModule):
    """Images read from files, checked before training.

    `bit_depth`: `8` (every image squeezed to uint8 by `scale16`), `16` (stored values kept:
    uint16 for image files, int16 modality values for DICOM) or `auto` (16 when any file holds
    more than 8 bits); see `graytransfer.data.decode.depth`. After setup, `dtype` is the batches'
    torch dtype and `value_range` the (min, max) measured over the files (0..255 at 8 bits),
    what the model's intensity mapping needs; at full depth only geometric augmentation runs.
    `scale16`: `full|minmax`, how 16-bit images become uint8 (see `graytransfer.data.decode.gray`).
    `dicom_window`: `[center, width]` for DICOM files, or null for the file's own window.
    `on_bad_file`: `error` (stop, naming every bad file) or `skip` (one warning with the count).
    A class left with no training images is an error either way, naming the class.
    `scan`: `full` decodes every file once before training (on all CPU cores; a JPEG is proven
    complete by `graytransfer.data.decode.jpeg`, at the cost of two more reduced decodes); `quick`
    checks their structure only (PNG chunks and CRCs, the JPEG end marker; other formats are
    decoded), several times faster; `none` trusts the files. A file found bad while the loaders
    read it stops the run naming it (`error`) or is replaced by the next readable item, with one
    warning naming it (`skip`); `describe()` counts every skipped file.
    `cache`: keep the decoded, resized uint8 images in memory (N x H x W bytes) so that epochs
    decode nothing (the scan decodes them anyway); `auto` does so when they fit in
    `CACHE_AUTO_BYTES` (2 GiB). Augmentation then works on the resized images.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 224,
        batch_size: int = 32,
        val_split: float = 0.2,
        test_split: float = 0.1,
        num_workers: int | None = None,
        seed: int | None = 0,
        scale16: str = "full",
        dicom_window: Sequence[float] | None = None,
        on_bad_file: str = "error",
        scan: str | bool = "full",
        cache: bool | str = "auto",
        bit_depth: int | str = 8,
        **kwargs,
    ) -> None:
        super().__init__(image_size, batch_size, num_workers, seed, **kwargs)
        self.bit_depth = check_bit_depth(bit_depth)
        self.flips = (bool(kwargs.get("hflip", False)), bool(kwargs.get("vflip", False)))
        self.stored: np.dtype | None = None  # numpy dtype at full depth, None for uint8
        self.val_split = val_split
        self.test_split = test_split
        self.scale16 = check_scale16(scale16)
        self.dicom_window = list(dicom_window) if dicom_window is not None else None
        if self.dicom_window is not None:
            check_window(self.dicom_window, "data.dicom_window")
        self.on_bad_file = check_on_bad_file(on_bad_file)
        if isinstance(scan, bool):
            scan = "full" if scan else "none"
        self.scan = scan
        if self.scan not in SCANS:
            raise UserError(f"data.scan: {scan!r} is not one of {list(SCANS)}")
        if cache not in (True, False, "auto"):
            raise UserError(f"data.cache: {cache!r} is not true, false or auto")
        self.cache_setting = cache
        self.cache = False

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the batches: uint8, or uint16 / int16 at full depth."""
        return torch.uint8 if self.stored is None else getattr(torch, self.stored.name)

    def _decode(self, path: Path) -> np.ndarray:
        return decode(path, self.image_size, self.scale16, self.dicom_window, self.stored)

    def _check(self, path: Path) -> None:
        check_file(path, self.scale16, self.dicom_window, self.stored)

    def _resolve_depth(self, paths: list[Path], where: str) -> None:
        """Choose the stored dtype (and note a DICOM set's own VOI window)."""
        if resolve_depth(self.bit_depth, paths, where, os.cpu_count() or 1) == 8:
            self.stored = None
        else:
            self.stored, self.voi_window = stored_dtype(paths, where), first_window(paths)

    def _measure_range(self, paths: list[Path], ranges: dict[Path, tuple[int, int]]) -> None:
        """`value_range`: min..max over the files decoded by the scan, else over a sample."""
        if self.stored is None:
            self.value_range = (0.0, 255.0)
            return
        self.value_range = value_range(paths, ranges, self._decode, self.stored)
        # geometric augmentation only (intensity ops assume 0..255); empty space is the minimum
        self.train_transform = build_augment(
            self.augment,
            self.image_size,
            *self.flips,
            geometric_only=True,
            fill=self.value_range[0],
        )

    def _decode_full(self, path: Path) -> np.ndarray:
        """The full scan: decode, and prove that a JPEG's pixel data is complete."""
        image = self._decode(path)
        if path.suffix.lower() in (".jpg", ".jpeg"):
            check_jpeg_complete(path, self.image_size)
        return image

    def _build(
        self, classes: list[str], items: Items, where: str, bad: Sequence[BadFile] = ()
    ) -> None:
        """Scan `items`, report bad files (plus `bad` found earlier, e.g. empty class folders),
        drop classes left without training images, split off missing val/test, make datasets."""
        order = [s for s in SPLITS if s in items]
        paths = [p for s in order for p in items[s][0]]
        self._resolve_depth(paths, where)
        cached: dict[Path, np.ndarray] = {}
        itemsize = 1 if self.stored is None else self.stored.itemsize
        footprint = len(paths) * self.image_size[0] * self.image_size[1] * itemsize
        self.cache = self.cache_setting is True or (
            self.cache_setting == "auto" and footprint <= CACHE_AUTO_BYTES
        )
        bad = list(bad)
        ranges: dict[Path, tuple[int, int]] = {}
        if self.scan != "none" or self.cache:
            threads = os.cpu_count() or 1
            check = (
                self._decode_full
                if self.scan == "full"
                else (self._decode if self.cache else self._check)
            )
            if self.stored is not None and check is not self._check:
                check = self._ranged(check, ranges)
            result = scan_files(paths, check, threads, keep=self.cache)
            bad += result.bad
            if self.cache:
                cached = {
                    p: img for p, img in zip(paths, result.images, strict=True) if img is not None
                }
            del result  # the cached arrays now live only in `cached`, freed as they are copied
        report_bad_files(bad, self.on_bad_file, where)
        self.bad_files = bad
        broken_paths = {b.path for b in bad}
        self._measure_range(
            [p for p in paths if p not in broken_paths],
            ranges,
        )
        broken = {b.path for b in bad}
        kept = {
            s: [(p, y) for p, y in zip(*items[s], strict=True) if p not in broken] for s in order
        }
        kept = self._keep_classes(classes, items, kept, bad, order)
        train = kept["train"]
        labels = [y for _, y in train]
        val_split = 0.0 if "val" in kept else self.val_split
        test_split = 0.0 if "test" in kept else self.test_split
        groups = [self.groups[p] for p, _ in train] if self.groups else None
        train_i, val_i, test_i = split_indices(
            labels, val_split, test_split, self.seed, self.class_names, groups
        )
        if "val" not in kept:
            kept["val"] = [train[i] for i in val_i]
        if "test" not in kept:
            kept["test"] = [train[i] for i in test_i]
        kept["train"] = [train[i] for i in train_i]
        for s in SPLITS:
            transform = self.train_transform if s == "train" else None
            setattr(self, f"{s}_set", self._dataset(kept[s], cached, transform))

    @staticmethod
    def _ranged(check, ranges: dict[Path, tuple[int, int]]):
        """`check` that also records each decoded image's (min, max) in `ranges`."""

        def measured(path: Path) -> np.ndarray:
            image = check(path)
            ranges[path] = (int(image.min()), int(image.max()))
            return image

        return measured

    #: image -> group (patient) id, set by a data module with a group column (`data.group_column`)
    groups: dict[Path, str] | None = None

    def _keep_classes(self, classes: list[str], items: Items, kept, bad, order):
        """`kept` with classes that have no training image dropped and the rest renumbered;
        multi-label rows (label tuples) keep every label (the task checks they occur)."""
        if kept["train"] and isinstance(kept["train"][0][1], tuple):
            self.class_names = list(classes)
            return kept
        self._check_classes(classes, items, kept, bad)
        present = sorted({y for _, y in kept["train"]})
        remap = {old: new for new, old in enumerate(present)}
        self.class_names = [classes[i] for i in present]
        return {s: [(p, remap[y]) for p, y in kept[s] if y in remap] for s in order}

    def _check_classes(self, classes: list[str], items: Items, kept, bad: list[BadFile]) -> None:
        """A class that has images but no usable training image is an error naming it (it would
        otherwise vanish from the classifier, its val/test images with it)."""
        had = Counter(y for s in items for y in items[s][1])
        had_train = Counter(items["train"][1])
        left = Counter(y for _, y in kept["train"])
        for label, name in enumerate(classes):
            if not had[label] or left[label]:
                continue
            if had_train[label]:
                own = {p for p, y in zip(*items["train"], strict=True) if y == label}
                example = next(b for b in bad if b.path in own)
                raise UserError(
                    f"class '{name}' has no readable training image left: all "
                    f"{had_train[label]} of its training file(s) are bad (e.g. {example}); fix "
                    "or replace them, or remove the class"
                )
            raise UserError(
                f"class '{name}' has {had[label]} val/test image(s) but no training image: add "
                "training images of it, or remove it from the val/test data"
            )

    def runtime_bad_files(self) -> list[Path]:
        """Files found unreadable by the loaders (after the scan), in any worker process."""
        return [
            p
            for s in self._splits().values()
            if isinstance(s, ImageFiles)
            for p in s.unreadable_paths()
        ]

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """After each batch, one warning naming each file newly skipped while loading it."""
        found = self.runtime_bad_files()
        seen = getattr(self, "_warned", set())
        new = [p for p in found if p not in seen]
        if new:
            names = "; ".join(f"'{p}'" for p in new)
            warnings.warn(
                f"data.on_bad_file=skip: skipped {len(new)} unreadable file(s) while loading, "
                f"each replaced by the next image: {names} (fix or remove them)",
                UserWarning,
                stacklevel=2,
            )
            self._warned = seen | set(new)
        return batch

    def describe(self) -> str:
        """The base line, the depth at full depth, and the count of skipped files (scan and
        loaders), when any."""
        skipped = len(self.bad_files) + len(self.runtime_bad_files())
        line = super().describe()
        if self.stored is not None:
            low, high = self.value_range
            line += f", full depth {self.stored.name} values {low:g}..{high:g}"
        return f"{line}, {skipped} bad file(s) skipped" if skipped else line

    def _dataset(self, pairs, cached: dict[Path, np.ndarray], transform):
        paths = [p for p, _ in pairs]
        labels = [y for _, y in pairs]
        if self.cache:
            h, w = self.image_size
            images = torch.empty((len(paths), 1, h, w), dtype=self.dtype)
            for i, p in enumerate(paths):
                array = cached.pop(p, None)  # pop: peak memory stays near one copy
                images[i, 0] = torch.from_numpy(array if array is not None else self._decode(p))
            return InMemoryImages(images, torch.tensor(labels), [str(p) for p in paths], transform)
        return ImageFiles(
            paths,
            labels,
            self.image_size,
            self.scale16,
            self.dicom_window,
            transform,
            on_bad_file=self.on_bad_file,
            dtype=self.stored,
        )
