"""Folder loader throughput: graytransfer's uint8 1-channel loader vs torchvision's ImageFolder.

    python bench/loader_throughput.py                 # 512 images of 256x256 per set, 224x224 out
    python bench/loader_throughput.py --n 2048 --workers 4 --image-size 224

Writes two sets of the same synthetic X-ray-like images (smooth anatomy + noise, 2 classes):
16-bit PNGs and 8-bit PNGs. For each set it times one epoch (after a warm-up epoch, so worker
start-up is not counted) of
  - baseline: `ImageFolder` + `Resize((H, W))` + `ToTensor()` + 3-channel `Normalize`
    (float32 (3, H, W): 12 bytes per pixel; note that Pillow's RGB conversion also saturates
    16-bit values at 255, so it is fast *and wrong* on 16-bit data),
  - graytransfer `data=folder` (uint8 (1, H, W): 1 byte per pixel),
  - graytransfer `data=folder data.cache=true` (decoded once by the scan, then from memory),
with the same workers and batch size, and prints images/s and bytes per image as a table, then
the time of the pre-training scan (`data.scan=full` and `quick`).
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from graytransfer.data import FolderDataModule
from graytransfer.data.base import default_workers

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def synthetic_xray(rng: np.random.Generator, side: int, label: int) -> np.ndarray:
    """A float image in [0, 1]: a smooth blob field (class 1 has one bright extra blob) + noise."""
    y, x = np.mgrid[0:side, 0:side] / side
    image = np.zeros((side, side))
    for _ in range(6):
        cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.1, 0.3)]
        image += np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r))
    if label:
        image += 1.5 * np.exp(-((y - 0.5) ** 2 + (x - 0.5) ** 2) / 0.005)
    image = image / image.max() + rng.normal(0, 0.02, image.shape)
    return np.clip(image, 0, 1)


def write_sets(root: Path, n: int, side: int, seed: int = 0) -> dict[str, Path]:
    rng = np.random.default_rng(seed)
    sets = {"16-bit PNG": root / "png16", "8-bit PNG": root / "png8"}
    for i in range(n):
        label = i % 2
        image = synthetic_xray(rng, side, label)
        for name, bits, dtype in (("png16", 65535, np.uint16), ("png8", 255, np.uint8)):
            folder = root / name / f"class{label}"
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.rint(image * bits).astype(dtype)).save(folder / f"{i:05d}.png")
    return sets


def time_epoch(loader: DataLoader) -> tuple[float, int, int]:
    """Seconds for one full pass, images seen, bytes per image of the image batches."""
    started = time.perf_counter()
    count = 0
    nbytes = 0
    for images, _ in loader:
        count += images.shape[0]
        nbytes += images.numel() * images.element_size()
    return time.perf_counter() - started, count, nbytes // max(count, 1)


def measure(loader: DataLoader) -> tuple[float, int]:
    time_epoch(loader)  # warm-up: worker start, page cache
    seconds, count, per_image = time_epoch(loader)
    return count / seconds, per_image


def baseline_loader(root: Path, size: tuple[int, int], batch: int, workers: int) -> DataLoader:
    transform = transforms.Compose(
        [
            transforms.Resize(size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    dataset = datasets.ImageFolder(str(root), transform=transform)
    return DataLoader(
        dataset, batch_size=batch, num_workers=workers, persistent_workers=workers > 0
    )


def ours_loader(
    root: Path, size: tuple[int, int], batch: int, workers: int, cache: bool, scan: str = "full"
) -> tuple[DataLoader, float]:
    """The folder loader and the seconds its setup (the pre-training scan) took."""
    started = time.perf_counter()
    data = FolderDataModule(
        root=str(root),
        image_size=list(size),
        batch_size=batch,
        num_workers=workers,
        val_split=0.0,
        test_split=0.0,
        cache=cache,
        scan=scan,
    )
    data.setup("fit")
    return data.train_dataloader(), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images per set")
    parser.add_argument("--side", type=int, default=256, help="stored image side (pixels)")
    parser.add_argument("--image-size", type=int, default=224, help="loader output side")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--dir", type=Path, default=None, help="where to write (default: tmp)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = args.dir or Path(tempfile.mkdtemp(prefix="loader_bench_"))
    size = (args.image_size, args.image_size)
    print(
        f"{args.n} images of {args.side}x{args.side} per set -> {size[0]}x{size[1]}, "
        f"batch {args.batch_size}, {args.workers} workers, torch {torch.__version__}"
    )
    try:
        sets = write_sets(root, args.n, args.side)
        print("| set | loader | images/s | bytes/image | speed-up | setup s |")
        print("|---|---|---:|---:|---:|---:|")
        for name, folder in sets.items():
            base_rate, base_bytes = measure(
                baseline_loader(folder, size, args.batch_size, args.workers)
            )
            print(f"| {name} | ImageFolder + ToTensor + Normalize (3-ch float32) | "
                  f"{base_rate:.0f} | {base_bytes:,} | 1.0x | - |")  # fmt: skip
            for cache in (False, True):
                loader, setup_s = ours_loader(folder, size, args.batch_size, args.workers, cache)
                rate, per_image = measure(loader)
                label = "graytransfer folder (uint8 1-ch)" + (", cache=true" if cache else "")
                print(f"| {name} | {label} | {rate:.0f} | {per_image:,} | "
                      f"{rate / base_rate:.1f}x | {setup_s:.1f} |")  # fmt: skip
        for name, folder in sets.items():
            _, full_s = ours_loader(folder, size, args.batch_size, args.workers, False, "full")
            _, quick_s = ours_loader(folder, size, args.batch_size, args.workers, False, "quick")
            print(f"{name}: pre-training scan of {args.n} files: full {full_s:.2f} s, "
                  f"quick {quick_s:.2f} s")  # fmt: skip
    finally:
        if args.dir is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
