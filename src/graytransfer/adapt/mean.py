"""`mean`: like `sum`, but the stem kernels are averaged over RGB, a third of the scale. The first
activations are 3x smaller than the pretrained network expects; comparing `mean` with `sum` shows
whether that scale matters once BatchNorm and fine-tuning have their say."""

from __future__ import annotations

from torch import nn

from graytransfer.adapt.base import GrayToFloat, Strategy, gray_mean_std
from graytransfer.adapt.stem import find_rgb_stem, set_stem_weight
from graytransfer.backbone import BackboneDataConfig


class Mean(Strategy):
    """Stem kernels averaged over their input channels; input normalised with one mean/std."""

    name = "mean"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        stem = find_rgb_stem(backbone, data.first_conv)
        set_stem_weight(stem, stem.weight.mean(dim=1, keepdim=True))
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,), std=(std,))
