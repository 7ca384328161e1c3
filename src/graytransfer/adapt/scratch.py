"""`scratch`: the pretrained backbone with a freshly initialised 1-channel stem (same shape,
stride and padding). The control that shows how much the pretrained stem contributes."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, gray_mean_std
from graytransfer.adapt.stem import find_rgb_stem, set_stem_weight


class Scratch(Strategy):
    """A new 1-channel stem, He-normal (fan-out) like timm's EfficientNet init, zero bias."""

    name = "scratch"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        stem = find_rgb_stem(backbone, data.first_conv)
        weight = torch.empty_like(stem.weight[:, :1])
        nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
        bias = torch.zeros_like(stem.bias) if stem.bias is not None else None
        set_stem_weight(stem, weight, bias)
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,), std=(std,))
