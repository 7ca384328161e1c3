"""Helpers that write real image files of every kind the loaders must take."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image


def write_png8(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode="L").save(path)
    return path


def write_16bit(path: Path, array: np.ndarray) -> Path:
    """A 16-bit grayscale PNG or TIFF (by suffix) holding `array` exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint16)).save(path)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def noise(seed: int, shape: tuple[int, int] = (24, 20), high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape)


def class_folders(root: Path, counts: dict[str, int], size=(24, 20)) -> Path:
    """`root/<class>/<i>.png`, 8-bit noise images; returns root."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_png8(root / name / f"{i:03d}.png", noise(100 * k + i, size))
    return root


def write_jpeg(path: Path, array: np.ndarray, **options) -> Path:
    """A JPEG of `array` (gray (H, W) or colour (H, W, 3)); `options` go to Pillow's save."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path, "JPEG", **options)
    return path


def truncate_keep_end_marker(path: Path, keep: float = 0.5) -> Path:
    """Cut a JPEG's data short and append the end-of-image marker, as "repair" tools do: the
    quick scan's end-marker check passes, and Pillow loads it without complaint."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] + b"\xff\xd9")
    return path


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """An IDX file (MNIST's format): 0, 0, type 0x08 (uint8), ndim, big-endian dims, values;
    gzip-compressed to `<path>.gz` when `compress`."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_medmnist(path: Path, counts: dict[str, int], classes: int, size: int = 28) -> dict:
    """A MedMNIST `.npz` (`<split>_images` uint8 (N, H, W), `<split>_labels` (N, 1)), labels
    cycling through `classes`; returns the arrays written."""
    rng = np.random.default_rng(7)
    arrays = {}
    for split, n in counts.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def numbered_pngs(folder: Path, count: int, seed: int = 0) -> list[str]:
    """`folder/<i>.png` for i < `count`, 8-bit noise; returns their paths relative to
    `folder`'s parent (as a CSV next to `folder` lists them)."""
    for i in range(count):
        write_png8(folder / f"{i}.png", noise(seed + i))
    return [f"{folder.name}/{i}.png" for i in range(count)]


def write_table(path: Path, header: str, rows: list[tuple]) -> Path:
    """A CSV file: `header`, then one comma-joined line per row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path
