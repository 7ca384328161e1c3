"""Data modules for benchmark sets held in memory as uint8 arrays (MNIST family, MedMNIST)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from graytransfer.data.base import GrayscaleDataModule, default_workers
from graytransfer.data.resize import resize_uint8
from graytransfer.data.split.by_class import stratified_split
from graytransfer.data.split.stratify import stratified_subset
from graytransfer.data.store.in_memory import InMemoryImages

#: above this many bytes at `image_size`, images are resized when read instead of once
RESIZE_ONCE_BYTES = 2 * 1024**3

#: split name -> (uint8 images (N, H, W), integer labels (N,))
Arrays = dict[str, tuple[np.ndarray, np.ndarray]]


class ArrayDataModule(GrayscaleDataModule):
    """A set with an official train/test (and maybe val) split, decoded once into memory.

    `val_split` holds out that fraction of the official training set (stratified, seeded) when
    the set has no official val split. `train_subset`, `val_subset`, `test_subset` keep a
    stratified, seeded number of images of each split (null keeps all). The kept images are
    resized once to `image_size` and held as uint8, so an epoch costs no decoding, as long as
    that takes at most `RESIZE_ONCE_BYTES` (2 GiB); larger (e.g. all of Fashion-MNIST at B7's
    600x600, 25 GB) they stay at their stored size and each image is resized when it is read.
    Workers default to 0 when there is nothing to parallelise (no augmentation, resized once) and
    to `min(cpus - 1, 8)` otherwise.
    """

    def __init__(
        self,
        image_size: int | Sequence[int] = 28,
        batch_size: int = 128,
        val_split: float = 0.1,
        train_subset: int | None = None,
        val_subset: int | None = None,
        test_subset: int | None = None,
        num_workers: int | None = None,
        seed: int | None = 0,
        augment: str = "none",
        **kwargs,
    ) -> None:
        self.workers_given = num_workers is not None
        if num_workers is None:
            num_workers = 0 if augment == "none" else default_workers()
        super().__init__(image_size, batch_size, num_workers, seed, augment=augment, **kwargs)
        self.val_split = val_split
        self.subsets = {"train": train_subset, "val": val_subset, "test": test_subset}

    def class_list(self) -> list[str]:
        raise NotImplementedError

    def load_arrays(self) -> Arrays:
        """The official splits: at least `train` and `test`, `val` when the set has one."""
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        arrays = self.load_arrays()
        self.class_names = self.class_list()
        source = {"train": "train", "val": "val", "test": "test"}
        picks = {name: np.arange(len(labels)) for name, (_, labels) in arrays.items()}
        if "val" not in arrays:
            train_i, val_i, _ = stratified_split(arrays["train"][1], self.val_split, 0.0, self.seed)
            picks["train"], picks["val"] = np.sort(train_i), np.sort(val_i)
            arrays = {**arrays, "val": arrays["train"]}
            source["val"] = "train"
        kept = {}
        for split in ("train", "val", "test"):
            labels = arrays[split][1]
            index = picks[split]
            key = f"{split}_subset"
            kept[split] = index[
                stratified_subset(labels[index], self.subsets[split], self.seed, key)
            ]
        total = sum(len(k) for k in kept.values()) * self.image_size[0] * self.image_size[1]
        self.resize_once = total <= RESIZE_ONCE_BYTES
        if not self.resize_once and not self.workers_given:
            self.num_workers = default_workers()
        for split, keep in kept.items():
            images, labels = arrays[split]
            tensor = torch.from_numpy(np.ascontiguousarray(images[keep])).unsqueeze(1)
            dataset = InMemoryImages(
                resize_uint8(tensor, self.image_size) if self.resize_once else tensor,
                torch.from_numpy(labels[keep].astype(np.int64)),
                [f"{source[split]}[{i}]" for i in keep],
                self.train_transform if split == "train" else None,
                size=None if self.resize_once else self.image_size,
            )
            setattr(self, f"{split}_set", dataset)
