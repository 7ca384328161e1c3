"""Test-only parts for the shard tests: generated images that carry their own id in their
pixels, and a callback recording which images each rank saw (imported by `train.py` children)."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
import numpy as np
import torch
from PIL import Image

from helpers.datafiles import CT, write_dicom


def write_numbered_folder(root: Path, count: int, classes: int = 2, size: int = 16) -> None:
    """`root/c<k>/<i>.png`: image i has i in its first two pixels (low byte, high byte), so a
    batch tells which images it holds at any stored size of at least `size`."""
    rng = np.random.default_rng(0)
    for i in range(count):
        folder = root / f"c{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        pixels[0, 0], pixels[0, 1] = i % 256, i // 256
        Image.fromarray(pixels).save(folder / f"{i:05d}.png")


def ids_of(images: torch.Tensor) -> list[int]:
    """The ids `write_numbered_folder` put into a uint8 (N, 1, H, W) batch."""
    return (images[:, 0, 0, 0].long() + 256 * images[:, 0, 0, 1].long()).tolist()


class RecordIds(L.Callback):
    """Append `{stage, epoch, step, rank, ids}` per batch to `<folder>/seen-<rank>.jsonl`
    (training, validation and test batches; the sanity check is left out)."""

    def __init__(self, folder: str) -> None:
        self.folder = Path(folder)

    def _write(self, trainer: L.Trainer, stage: str, batch) -> None:
        if trainer.sanity_checking:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        record = {
            "stage": stage,
            "epoch": trainer.current_epoch,
            "step": trainer.global_step,
            "rank": trainer.global_rank,
            "ids": ids_of(batch[0]),
            "sum": int(batch[0].long().sum()),
        }
        with open(self.folder / f"seen-{trainer.global_rank}.jsonl", "a") as handle:
            handle.write(json.dumps(record) + "\n")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._write(trainer, "train", batch)

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._write(trainer, "val", batch)

    def on_test_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        self._write(trainer, "test", batch)


def read_seen(folder: Path) -> list[dict]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("seen-*.jsonl"))
        for line in path.read_text().splitlines()
    ]


class Tripwire(torch.utils.data.Dataset):
    """`dataset`, except that reading item `at` raises: a conversion stopped part-way."""

    def __init__(self, dataset, at: int) -> None:
        self.dataset, self.at = dataset, at
        self.ids, self.labels = dataset.ids, dataset.labels

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        if index == self.at:
            raise RuntimeError("planted interruption")
        return self.dataset[index]


def numbered_module(root: Path):
    """The numbered folder at 16x16: train 112, val 32, test 16 of 160 images."""
    from graytransfer.data import FolderDataModule

    data = FolderDataModule(
        root=str(root), image_size=16, val_split=0.2, test_split=0.1, num_workers=0, scan="none"
    )
    data.setup("fit")
    return data


def convert_until_failure(png: str, out: str, source: str) -> None:
    """Run in a child process (`python -c`): convert, failing at training item 50; print
    `interrupted` and leave at once (the test then kills what is left of the process group)."""
    import os

    from graytransfer.data.store.shard_writer import convert

    data = numbered_module(Path(png))
    data.train_set = Tripwire(data.train_set, at=50)
    try:
        convert(data, Path(out), json.loads(source), workers=2, chunk_size=8, verbose=False)
    except RuntimeError:
        print("interrupted", flush=True)
    os._exit(0)


def write_full_depth_folder(root: Path, kind: str, count: int = 24, size: int = 20) -> Path:
    """`root/<class>/<i>.<png|dcm>`, two classes of noise at full depth: `png16` 16-bit PNGs
    (values 1000..40000), `dicom` CT-like DICOM files (stored 0..3000, slope 1, intercept -1024,
    a VOI window 40/400, which the shards must carry)."""
    rng = np.random.default_rng(7)
    for i in range(count):
        folder = root / f"c{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        if kind == "png16":
            pixels = rng.integers(1000, 40001, (size, size)).astype(np.uint16)
            Image.fromarray(pixels).save(folder / f"{i:03d}.png")
        else:
            write_dicom(folder / f"{i:03d}.dcm", rng.integers(0, 3001, (size, size)), **CT)
    return root
