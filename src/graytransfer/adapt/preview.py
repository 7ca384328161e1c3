"""Pictures of what the backbone sees, for every strategy: one row per image, labelled columns.

- Strategies that hand the backbone three channels (`repeat`, `keras`, `colormap`, `stack`,
  `windows`, `adapter`): the gray input, each channel the pretrained stem reads as R, G and B
  (the strategy's own channel names where its input module has `channel_names`), and the three
  together as the RGB photo the pretrained weights would read them as (un-normalised with the
  weights' own per-channel mean/std). Under `keras` that photo is the neutral gray image itself;
  under `repeat` it carries the slight tint of the averaged mean/std.
- Stem strategies (`sum`, `mean`, `luma`, `fold`, `scratch`: the patched stem takes one
  channel): the gray input and the single channel the stem consumes (the normalised image).
- With the backbone given, every strategy's row then shows the first `STEM_MAPS` feature maps
  of the (patched) stem conv (for `fold` the folded stem with its border correction): what the
  network makes of the input at its first layer, comparable across strategies.

Each tile is scaled for display: input and RGB on their own [0, 1] scale, a channel or a feature
map stretched from its own minimum to maximum. The column labels are drawn above the tiles and
stored in the PNG's `columns` text chunk (`" | "`-separated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from PIL.PngImagePlugin import PngInfo
from torch import nn

from graytransfer.adapt.stem import find_stem
from graytransfer.errors import UserError

#: tiles are enlarged (nearest neighbour) to at least this many pixels on their short side
MIN_TILE = 96
GAP = 2
#: height of the label strip above the tiles
LABEL_HEIGHT = 14
#: how many of the stem conv's feature maps a preview shows
STEM_MAPS = 4
#: the PNG text chunk holding the column labels
COLUMNS_KEY = "columns"
RGB_NAMES = ("R", "G", "B")


@dataclass(frozen=True)
class Preview:
    """A rendered preview: the picture (uint8 (H, W, 3), labels included) and its column labels."""

    grid: np.ndarray
    columns: tuple[str, ...]


@torch.no_grad()
def backbone_input(input_module: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """What the input module hands the backbone for `images`, as float32 on the module's device
    (the module is run in eval mode and left in the mode it was in)."""
    tensors = [*input_module.parameters(), *input_module.buffers()]
    device = tensors[0].device if tensors else images.device
    was_training = input_module.training
    input_module.eval()
    try:
        return input_module(images.to(device)).float()
    finally:
        input_module.train(was_training)


def backbone_views(
    input_module: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
) -> torch.Tensor | None:
    """uint8 (N, 1, H, W) -> what the backbone gets, un-normalised to [0, 1]: (N, 3, H', W'),
    or None when the input module hands the backbone a single channel (stem strategies)."""
    out = backbone_input(input_module, images).cpu()
    if out.ndim != 4 or out.shape[1] != 3:
        return None
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
    return (out * s + m).clamp(0, 1)


@torch.no_grad()
def stem_maps(
    backbone: nn.Module, first_conv: str, stem_input: torch.Tensor, count: int = STEM_MAPS
) -> torch.Tensor | None:
    """The first `count` feature maps (N, count, H', W') of the backbone's stem (the module at
    `first_conv`, a strategy's wrapper included) for `stem_input`; None if it has no conv stem."""
    try:
        find_stem(backbone, first_conv)
    except UserError:
        return None
    stem = backbone.get_submodule(first_conv)
    weight = next(stem.parameters())
    out = stem(stem_input.to(device=weight.device, dtype=weight.dtype))
    return out[:, :count].float().cpu()


def stretch(tiles: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map of (N, C, H, W) stretched from its minimum to its maximum onto [0, 1]."""
    low = tiles.amin(dim=(-2, -1), keepdim=True)
    high = tiles.amax(dim=(-2, -1), keepdim=True)
    return (tiles - low) / (high - low).clamp(min=1e-12)


def gray_input(images: torch.Tensor) -> torch.Tensor:
    """The input images on [0, 1]: uint8 / 255, other integer depths stretched per image."""
    if images.dtype == torch.uint8:
        return images.float().cpu() / 255.0
    return stretch(images.float().cpu())


def preview_columns(
    input_module: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    backbone: nn.Module | None = None,
    first_conv: str = "",
) -> list[tuple[str, torch.Tensor]]:
    """The preview's columns as (label, tiles (N, 1 or 3, h, w) on [0, 1]) pairs."""
    stem_input = backbone_input(input_module, images)
    views = backbone_views(input_module, images, mean, std)
    columns = [("input", gray_input(images))]
    if views is not None:
        names = tuple(getattr(input_module, "channel_names", ())) or RGB_NAMES
        columns += [(f"{name} channel", views[:, c : c + 1]) for c, name in enumerate(names)]
        columns.append(("as RGB", views))
    else:
        columns.append(("stem input", stretch(stem_input[:, :1].cpu())))
    if backbone is not None:
        maps = stem_maps(backbone, first_conv, stem_input)
        if maps is not None:
            columns += [
                (f"stem map {k}", stretch(maps[:, k : k + 1])) for k in range(maps.shape[1])
            ]
    return columns


def preview_grid(columns: list[tuple[str, torch.Tensor]]) -> np.ndarray:
    """One row per image, one labelled column per entry of `columns`, as uint8 (H, W, 3). Tiles
    are resized (nearest) to the largest tile and enlarged to at least `MIN_TILE` pixels."""
    h = max(tiles.shape[-2] for _, tiles in columns)
    w = max(tiles.shape[-1] for _, tiles in columns)
    scale = max(1, -(-MIN_TILE // min(h, w)))
    th, tw = h * scale, w * scale
    n = columns[0][1].shape[0]
    width = len(columns) * (tw + GAP) - GAP
    grid = np.full((LABEL_HEIGHT + n * (th + GAP) - GAP, width, 3), 255, np.uint8)
    for c, (_, tiles) in enumerate(columns):
        tiles = nn.functional.interpolate(tiles.float(), size=(th, tw), mode="nearest")
        tiles = tiles.expand(-1, 3, -1, -1) if tiles.shape[1] == 1 else tiles
        pixels = (tiles.clamp(0, 1).permute(0, 2, 3, 1).numpy() * 255).round().astype(np.uint8)
        for r in range(n):
            y, x = LABEL_HEIGHT + r * (th + GAP), c * (tw + GAP)
            grid[y : y + th, x : x + tw] = pixels[r]
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    for c, (label, _) in enumerate(columns):
        draw.text((c * (tw + GAP) + 2, 1), label, fill=(0, 0, 0))
    return np.asarray(picture).copy()


def render_preview(
    input_module: nn.Module,
    images: torch.Tensor,
    mean: Sequence[float],
    std: Sequence[float],
    path: str | Path | None = None,
    backbone: nn.Module | None = None,
    first_conv: str = "",
) -> Preview:
    """The preview of `images` for any strategy (saved as PNG at `path` if given, its column
    labels in the `columns` text chunk). Give the (adapted) `backbone` and its `first_conv` to
    add the stem's first feature maps."""
    columns = preview_columns(input_module, images, mean, std, backbone, first_conv)
    preview = Preview(preview_grid(columns), tuple(label for label, _ in columns))
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        info = PngInfo()
        info.add_text(COLUMNS_KEY, " | ".join(preview.columns))
        Image.fromarray(preview.grid).save(path, pnginfo=info)
    return preview
