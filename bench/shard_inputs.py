"""The images `bench.shards` loads: generated gray X-ray-like pictures (`Generated`, and the
data module the converter reads them from), written as PNG class folders or one memory-mapped
`.npy`, and the two loaders' datasets that are not the project's own: `ReadyImages` (the hand-off
floor) and `GatherBatches` (one gather per batch from the `.npy`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bench.loader_throughput import synthetic_xray

BATCH = 64
TORCH_DTYPES = {np.dtype(np.uint8): torch.uint8, np.dtype(np.uint16): torch.uint16}


class Generated(torch.utils.data.Dataset):
    """`count` gray images of `side` x `side` at `bits` (uint8 or uint16): one synthetic X-ray
    per class, shifted by an amount that depends on the index (cheap to make, all distinct)."""

    def __init__(self, count: int, side: int, bits: int) -> None:
        rng = np.random.default_rng(0)
        top, dtype = (255, np.uint8) if bits == 8 else (65535, np.uint16)
        self.base = [np.rint(synthetic_xray(rng, side, k) * top).astype(dtype) for k in (0, 1)]
        self.count, self.side = count, side
        self.labels = torch.arange(count) % 2
        self.ids = [str(i) for i in range(count)]

    def __len__(self) -> int:
        return self.count

    def pixels(self, index: int) -> np.ndarray:
        shift = (index * 7 % self.side, index * 13 // self.side % self.side)
        return np.roll(self.base[index % 2], shift, axis=(0, 1))

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.from_numpy(self.pixels(index)[None].copy()), self.labels[index]


def generated_module(count: int, side: int, bits: int):
    """A data module whose training split is `Generated` (what the converter reads)."""
    from graytransfer.data.base import GrayscaleDataModule

    class GeneratedModule(GrayscaleDataModule):
        dtype = torch.uint8 if bits == 8 else torch.uint16

    data = GeneratedModule(side, BATCH, 0)
    data.train_set, data.class_names = Generated(count, side, bits), ["class0", "class1"]
    data.value_range = (0.0, 255.0 if bits == 8 else 65535.0)
    return data


def write_pngs(root: Path, count: int, side: int, bits: int) -> None:
    images = Generated(count, side, bits)
    for i in range(count):
        path = root / f"class{i % 2}" / f"{i:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images.pixels(i)).save(path)


class ReadyImages(torch.utils.data.Dataset):
    """`count` items, each a fresh copy of one ready `(1, side, side)` image and its label: no
    reading, no decoding, only what every loader does after it has an item in hand."""

    def __init__(self, count: int, side: int, bits: int) -> None:
        self.count, self.image = count, Generated(1, side, bits)[0][0]

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.image.clone(), index % 2


def write_memmap(path: Path, images: Generated) -> None:
    dtype = images.base[0].dtype
    array = np.lib.format.open_memmap(path, "w+", dtype, (len(images), images.side, images.side))
    for i in range(len(images)):
        array[i] = images.pixels(i)
    array.flush()
    del array


class GatherBatches(torch.utils.data.Dataset):
    """Item = a list of indices -> the batch `(images (B, 1, H, W), labels)` gathered from a
    memory-mapped `.npy` in one call, into shared memory (no per-item Python, no collate)."""

    def __init__(self, path: Path) -> None:
        self.path, self.array = path, None

    def __len__(self) -> int:
        return int(np.load(self.path, mmap_mode="r").shape[0])

    def __getitem__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        if self.array is None:
            self.array = np.load(self.path, mmap_mode="r")
        order = np.sort(np.asarray(indices))
        shape = (len(order), 1, *self.array.shape[1:])
        out = torch.empty(shape, dtype=TORCH_DTYPES[self.array.dtype]).share_memory_()
        np.take(self.array, order, axis=0, out=out.numpy()[:, 0])
        return out, torch.from_numpy(order % 2)
