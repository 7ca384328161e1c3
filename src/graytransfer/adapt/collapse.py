"""The shared mechanism of `sum`, `mean` and `luma`: a 1-channel stem whose kernel is a fixed
weighted combination of the pretrained RGB kernels, `sum_c w_c * W_c`, fed the gray image
normalised with one mean/std. Each strategy only names its three weights."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, gray_mean_std
from graytransfer.adapt.stem import find_rgb_stem, set_stem_weight


class CollapsedStem(Strategy):
    """Stem kernels combined over their RGB inputs with `channel_weights`."""

    #: (w_R, w_G, w_B)
    channel_weights: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        stem = find_rgb_stem(backbone, data.first_conv)
        weights = torch.tensor(
            self.channel_weights, dtype=stem.weight.dtype, device=stem.weight.device
        ).view(1, 3, 1, 1)
        set_stem_weight(stem, (stem.weight * weights).sum(dim=1, keepdim=True))
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,), std=(std,))
