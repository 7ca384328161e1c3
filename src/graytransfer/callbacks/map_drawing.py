"""Drawing class activation maps: each map over its gray image, one PNG per image or a grid
(matplotlib, headless). The maps come from `graytransfer.callbacks.activation_maps`."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

#: the perceptual colormap of the overlays
COLORMAP = "inferno"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _draw(ax: Any, image: np.ndarray, cam: np.ndarray, title: str) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.imshow(cam, cmap=COLORMAP, vmin=0.0, vmax=1.0, alpha=0.5, interpolation="bilinear")
    ax.set_title(title, fontsize=8)
    ax.axis("off")


def save_overlay(path: Path, image: torch.Tensor, cam: np.ndarray, title: str) -> Path:
    """One PNG: the gray `image` (1, H, W) with `cam` (H, W) over it, `title` above."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(3, 3.2))
    _draw(ax, _gray(image), cam, title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_grid(
    path: Path, images: torch.Tensor, cams: np.ndarray, titles: Sequence[str], columns: int = 8
) -> Path:
    """One PNG of every image (N, 1, H, W) with its map (N, H, W), titled, `columns` a row."""
    plt = _plt()
    path.parent.mkdir(parents=True, exist_ok=True)
    count = len(titles)
    cols = max(1, min(columns, count))
    rows = max(1, math.ceil(count / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(2.0 * cols, 2.2 * rows), squeeze=False)
    for index, ax in enumerate(axes.flat):
        if index < count:
            _draw(ax, _gray(images[index]), cams[index], titles[index])
        else:
            ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _gray(image: torch.Tensor) -> np.ndarray:
    array = image.detach().cpu()[0].float()
    if image.dtype != torch.uint8 and array.max() > 255:  # full-depth input: show on 0..255
        array = array * (255.0 / array.max())
    return array.numpy()
