"""Helpers that write real image files of every kind the loaders must take."""

from __future__ import annotations

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
