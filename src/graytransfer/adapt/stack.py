"""`stack`: three fixed views of the gray image as the three channels — the image itself, its
histogram-equalised version (global contrast stretched by the image's own intensity histogram)
and its Sobel edge magnitude (local contrast). All three are computed on the device, per image,
and normalised with one gray mean/std, like the image channel of `repeat`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, Strategy, gray_mean_std

SOBEL_X = ((-1.0, 0.0, 1.0), (-2.0, 0.0, 2.0), (-1.0, 0.0, 1.0))
#: the largest Sobel gradient magnitude of a [0, 1] image, so edges land on [0, 1] too
SOBEL_MAX = 4.0 * math.sqrt(2.0)


def equalize(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Per-image histogram equalisation of uint8 (N, 1, H, W) -> [0, 1] floats of `dtype`:
    each level maps to its share of darker pixels, the darkest present level to 0."""
    n = x.shape[0]
    flat = x.reshape(n, -1).long()
    hist = torch.zeros(n, 256, dtype=dtype, device=x.device)
    hist.scatter_add_(1, flat, torch.ones_like(flat, dtype=dtype))
    cdf = hist.cumsum(dim=1)
    cdf_min = cdf.gather(1, flat.min(dim=1, keepdim=True).values)
    levels = (cdf - cdf_min) / (flat.shape[1] - cdf_min).clamp(min=1)
    return levels.gather(1, flat).view_as(x)


class StackViews(nn.Module):
    """uint8 gray (N, 1, H, W) -> (N, 3, H, W): [image, equalised, edges], normalised."""

    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        sobel_x = torch.tensor(SOBEL_X)
        self.register_buffer("sobel", torch.stack([sobel_x, sobel_x.T]).unsqueeze(1))
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) grayscale batch, got {tuple(x.shape)}")
        dtype = self.sobel.dtype
        image = x.to(dtype) / 255.0
        grad = F.conv2d(F.pad(image, (1, 1, 1, 1), mode="replicate"), self.sobel)
        edges = grad.pow(2).sum(dim=1, keepdim=True).sqrt() / SOBEL_MAX
        views = torch.cat([image, equalize(x, dtype), edges], dim=1)
        return (views - self.mean) / self.std


class Stack(Strategy):
    """Image, histogram-equalised image and edge map as R, G, B; the backbone is untouched."""

    name = "stack"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        return StackViews(*gray_mean_std(data))
