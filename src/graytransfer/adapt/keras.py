"""`keras`: what Keras' EfficientNet does with a 1-channel image. Its Normalization layer scales to
[0, 1] and broadcasts the single channel against the 3-vector mean and std, so the backbone gets
three differently shifted copies `(x/255 - mean_c) / std_c`. With the weights' own per-channel
mean/std this is exactly how those weights see a neutral gray photo (R = G = B)."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, channel_mean_std


class Keras(Strategy):
    """Gray -> three channels normalised channel by channel; the backbone is untouched.

    `mean`/`std` (3 values, [0, 1] scale) default to the weights' own, which for the ImageNet
    EfficientNets are Keras' (0.485, 0.456, 0.406) / (0.229, 0.224, 0.225).
    """

    name = "keras"

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        self.mean = mean
        self.std = std

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        mean, std = channel_mean_std(data, self.mean, self.std)
        return GrayToFloat(mean=mean, std=std)
