"""Pictures of what the backbone sees: for each image, the gray input, each of the three channels
the input module makes, and the three together as the RGB photo the pretrained weights would
read them as (the channels un-normalised with the weights' own per-channel mean/std).

Under `keras` that photo is the neutral gray image itself; under `repeat` it carries the slight
tint of the averaged mean/std; `colormap`, `stack`, `windows` and `adapter` show their colours.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

#: tiles are enlarged (nearest neighbour) to at least this many pixels on their short side
MIN_TILE = 96
GAP = 2
COLUMNS = ("input", "channel 0", "channel 1", "channel 2", "as RGB")


@torch.no_grad()
def backbone_views(
    input_module: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor | None:
    """uint8 (N, 1, H, W) -> what the backbone gets, un-normalised to [0, 1]: (N, 3, H', W'),
    or None when the input module hands the backbone a single channel (stem strategies)."""
    tensors = [*input_module.parameters(), *input_module.buffers()]
    device = tensors[0].device if tensors else images.device
    was_training = input_module.training
    input_module.eval()
    try:
        out = input_module(images.to(device)).float().cpu()
    finally:
        input_module.train(was_training)
    if out.ndim != 4 or out.shape[1] != 3:
        return None
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (out * s + m).clamp(0, 1)


def preview_grid(images: torch.Tensor, views: torch.Tensor) -> np.ndarray:
    """One row per image: input | channel 0 | channel 1 | channel 2 | RGB, as uint8 (H, W, 3)."""
    n, _, h, w = views.shape
    scale = max(1, -(-MIN_TILE // min(h, w)))
    gray_in = images.float().cpu() / 255.0
    if gray_in.shape[-2:] != (h, w):
        gray_in = nn.functional.interpolate(gray_in, size=(h, w), mode="nearest")
    tiles = []
    for i in range(n):
        row = [gray_in[i].expand(3, h, w)] + [views[i, c : c + 1].expand(3, h, w) for c in range(3)]
        row.append(views[i])
        tiles.append(row)
    th, tw = h * scale, w * scale
    grid = np.full((n * (th + GAP) - GAP, len(COLUMNS) * (tw + GAP) - GAP, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            pixels = (tile.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
            pixels = pixels.repeat(scale, axis=0).repeat(scale, axis=1)
            y, x = r * (th + GAP), c * (tw + GAP)
            grid[y : y + th, x : x + tw] = pixels
    return grid


def render_preview(
    input_module: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    path: str | Path | None = None,
) -> np.ndarray | None:
    """The preview grid of `images` (saved as PNG at `path` if given), or None for strategies
    whose backbone sees one channel."""
    views = backbone_views(input_module, images, mean, std)
    if views is None:
        return None
    grid = preview_grid(images, views)
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)
    return grid
