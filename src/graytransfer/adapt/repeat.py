"""`repeat`: copy the gray channel to three, one mean/std for all three; backbone untouched."""

from __future__ import annotations

from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, gray_mean_std


class Repeat(Strategy):
    """Gray -> (g, g, g), each normalised with the same scalar mean/std."""

    name = "repeat"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,) * 3, std=(std,) * 3)
