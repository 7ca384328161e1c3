"""`sum`: a 1-channel stem whose kernels are the sum of the RGB kernels (timm's
`adapt_input_conv`, fastai, segmentation_models_pytorch). With one mean/std for the gray image
it computes exactly what `repeat` computes, with a third of the stem's MACs and input bytes."""

from __future__ import annotations

from torch import nn

from graytransfer.adapt.base import GrayToFloat, Strategy, gray_mean_std
from graytransfer.adapt.stem import find_rgb_stem, set_stem_weight
from graytransfer.backbone import BackboneDataConfig


class Sum(Strategy):
    """Stem kernels summed over their input channels; input normalised with one mean/std."""

    name = "sum"

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        stem = find_rgb_stem(backbone, data.first_conv)
        set_stem_weight(stem, stem.weight.sum(dim=1, keepdim=True))
        mean, std = gray_mean_std(data)
        return GrayToFloat(mean=(mean,), std=(std,))
