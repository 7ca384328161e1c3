"""`colormap`: a fixed pseudo-colour lookup table maps each gray level to an RGB colour (viridis,
perceptually uniform, so equal gray steps become equal colour steps), which is then normalised
like an RGB photo with the weights' per-channel mean/std. Runs on the device as a table lookup."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, Strategy, channel_mean_std
from graytransfer.adapt.viridis import VIRIDIS
from graytransfer.errors import UserError

COLORMAPS = {"viridis": VIRIDIS}


class ColormapLookup(nn.Module):
    """uint8 gray (N, 1, H, W) -> normalised RGB (N, 3, H, W) through a 256-entry table."""

    def __init__(
        self, table: Sequence[Sequence[float]], mean: Sequence[float], std: Sequence[float]
    ) -> None:
        super().__init__()
        lut = torch.tensor(table, dtype=torch.float32)
        m = torch.tensor(mean, dtype=torch.float32)
        s = torch.tensor(std, dtype=torch.float32)
        self.register_buffer("table", (lut - m) / s)  # normalised once, looked up per pixel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) grayscale batch, got {tuple(x.shape)}")
        index = x[:, 0].long().clamp(0, self.table.shape[0] - 1)
        return self.table[index].permute(0, 3, 1, 2).contiguous()


class Colormap(Strategy):
    """Gray -> viridis RGB -> per-channel normalisation; the backbone is untouched."""

    name = "colormap"

    def __init__(self, cmap: str = "viridis") -> None:
        if cmap not in COLORMAPS:
            raise UserError(f"adapt.cmap: '{cmap}' is not one of {', '.join(COLORMAPS)}")
        self.cmap = cmap

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        mean, std = channel_mean_std(data)
        return ColormapLookup(COLORMAPS[self.cmap], mean, std)

    def __repr__(self) -> str:
        return f"Colormap(cmap={self.cmap!r})"
