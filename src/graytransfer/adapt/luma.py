"""`luma`: the stem kernels weighted by the ITU-R BT.601 luma coefficients (0.299 R + 0.587 G +
0.114 B, the weights that made the gray image from a colour one) and rescaled by 3, so that the
kernel keeps the magnitude of `sum` while leaning on the green-sensitive filters."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.adapt.base import GrayToFloat, Strategy, gray_mean_std
from graytransfer.adapt.stem import find_rgb_stem, set_stem_weight
from graytransfer.backbone import BackboneDataConfig

BT601 = (0.299, 0.587, 0.114)


class Luma(Strategy):
    """Stem kernel `3 * sum_c luma_c * W_c`; input normalised with one mean/std."""

    name = "luma"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        stem = find_rgb_stem(backbone, data.first_conv)
        luma = torch.tensor(BT601, dtype=stem.weight.dtype, device=stem.weight.device)
        weight = 3.0 * (stem.weight * luma.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
        set_stem_weight(stem, weight)
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,), std=(std,))
