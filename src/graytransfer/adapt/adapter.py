"""`adapter`: a learned 1x1 conv (1 -> 3 channels) in front of the unchanged backbone, initialised
so that at step 0 it computes exactly what `repeat` computes. With `hidden > 0` a small
non-linear branch (1x1 conv -> GELU -> 1x1 conv, its last layer zero-initialised) is added to
that linear map, so the start is still exactly `repeat`."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, gray_mean_std
from graytransfer.errors import UserError


class LearnedColour(nn.Module):
    """Normalised gray (N, 1, H, W) -> (N, 3, H, W): a 1x1 conv (weights 1, bias 0 at init) plus
    an optional zero-initialised non-linear 1x1 branch."""

    def __init__(self, hidden: int = 0) -> None:
        super().__init__()
        self.linear = nn.Conv2d(1, 3, kernel_size=1)
        nn.init.ones_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)
        self.branch: nn.Module | None = None
        if hidden:
            last = nn.Conv2d(hidden, 3, kernel_size=1)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)
            self.branch = nn.Sequential(nn.Conv2d(1, hidden, kernel_size=1), nn.GELU(), last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.branch is not None:
            out = out + self.branch(x)
        return out


class Adapter(Strategy):
    """Gray normalised with one mean/std, then a learned 1 -> 3 channel map; backbone untouched.

    `hidden`: width of the optional non-linear branch (0 = the linear 1x1 conv only).
    """

    name = "adapter"

    def __init__(self, hidden: int = 0) -> None:
        if hidden < 0:
            raise UserError(f"adapt.hidden: {hidden} must be 0 (linear) or a positive width")
        self.hidden = int(hidden)

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        mean, std = gray_mean_std(data)
        return nn.Sequential(GrayToFloat(mean=(mean,), std=(std,)), LearnedColour(self.hidden))

    def __repr__(self) -> str:
        return f"Adapter(hidden={self.hidden})"
