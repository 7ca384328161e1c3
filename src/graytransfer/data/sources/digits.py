"""scikit-learn's bundled 8x8 handwritten digits: a real grayscale dataset, available offline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from sklearn.datasets import load_digits

from graytransfer.data.base import GrayscaleDataModule
from graytransfer.data.resize import resize_uint8
from graytransfer.data.split.by_class import stratified_split
from graytransfer.data.store.in_memory import InMemoryImages


class DigitsDataModule(GrayscaleDataModule):
    """1,797 digits (values 0..16, scaled to 0..255), upsampled to `image_size`, split stratified
    into train/val/test by `seed`. Held in memory, so the loaders need no workers. Common
    options (`augment`, `hflip`, `vflip`, `balance`) as in `GrayscaleDataModule`."""

    def __init__(
        self,
        image_size: int | Sequence[int] = 32,
        batch_size: int = 64,
        val_split: float = 0.15,
        test_split: float = 0.2,
        num_workers: int = 0,
        seed: int | None = 0,
        **kwargs,
    ) -> None:
        super().__init__(image_size, batch_size, num_workers, seed, **kwargs)
        self.val_split = val_split
        self.test_split = test_split

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        digits = load_digits()
        raw = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        images = resize_uint8(torch.from_numpy(raw).unsqueeze(1), self.image_size)
        labels = torch.from_numpy(digits.target).long()
        train, val, test = stratified_split(
            digits.target, self.val_split, self.test_split, self.seed
        )
        self.class_names = [str(d) for d in digits.target_names]
        for name, index in (("train", train), ("val", val), ("test", test)):
            transform = self.train_transform if name == "train" else None
            ids = [str(i) for i in index]
            setattr(
                self, f"{name}_set", InMemoryImages(images[index], labels[index], ids, transform)
            )
