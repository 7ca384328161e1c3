"""`fold`: a 1-channel stem that computes exactly what `keras` computes, borders included.

Keras feeds the stem `(x - m_c) / s_c` for c = R, G, B (x the gray image on [0, 1]) and the
stem's padding adds zeros *after* that normalisation. Since a conv is linear,

    stem(keras(x)) = conv(x, W') - conv(1, U) + b,   W' = sum_c W_c / s_c,   U = sum_c (m_c/s_c) W_c

with the same padding for both convs, `1` an all-ones image of the input's (H, W) and `b` the
stem's own bias. Inside the image `conv(1, U)` is the constant `sum(U)` (the naive fold's bias);
near the borders it sums only the taps that fall on the image, which is the border correction.
`conv(1, U)` is computed through the stem's own padding (symmetric zero padding, any padding
mode, or timm's dynamic TF 'same' padding of the `tf_` ports), lazily for each input (H, W) and
cached, so any image size works and costs one extra 1-image conv per new size.

Training: `W'` is the learned 1-channel kernel; `U` stays as folded from the pretrained weights,
so the offset map is a fixed function of the image size (a constant per-channel shift inside the
image, which a following BatchNorm absorbs anyway).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, GrayToFloat, Strategy, channel_mean_std
from graytransfer.adapt.stem import (
    StemWrapper,
    check_reproducible,
    find_rgb_stem,
    replace_module,
    stem_conv,
)

#: how many (H, W, dtype, device) offset maps a folded stem keeps
CACHE_SIZE = 8


class FoldedStem(StemWrapper):
    """A 1-channel stem: `conv(x, W') + b - conv(1, U)`, the offset map cached per input size."""

    def __init__(self, conv: nn.Conv2d, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        weight = conv.weight.detach()
        m = torch.tensor(mean, dtype=weight.dtype, device=weight.device).view(1, 3, 1, 1)
        s = torch.tensor(std, dtype=weight.dtype, device=weight.device).view(1, 3, 1, 1)
        self.conv = conv
        conv.weight = nn.Parameter((weight / s).sum(dim=1, keepdim=True))
        conv.in_channels = 1
        self.register_buffer("offset_kernel", (weight * m / s).sum(dim=1, keepdim=True))
        self._offsets: dict[tuple, torch.Tensor] = {}

    def offset_map(self, height: int, width: int) -> torch.Tensor:
        """`conv(1, U)` for an (H, W) input: shape (1, out_channels, H', W'), cached."""
        kernel = self.offset_kernel
        key = (height, width, kernel.dtype, kernel.device)
        offset = self._offsets.get(key)
        if offset is None:
            ones = torch.ones(1, 1, height, width, dtype=kernel.dtype, device=kernel.device)
            with torch.no_grad():
                offset = stem_conv(self.conv, ones, kernel)
            if len(self._offsets) >= CACHE_SIZE:
                self._offsets.pop(next(iter(self._offsets)))
            self._offsets[key] = offset
        return offset

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) - self.offset_map(x.shape[-2], x.shape[-1])

    def _apply(self, fn, *args, **kwargs):
        self._offsets.clear()
        return super()._apply(fn, *args, **kwargs)


class Fold(Strategy):
    """The `keras` function with a 1-channel stem: a third of the stem MACs and input bytes.

    `mean`/`std` default to the weights' own per-channel values (as in `keras`).
    """

    name = "fold"

    def __init__(
        self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None
    ) -> None:
        self.mean = mean
        self.std = std

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        mean, std = channel_mean_std(data, self.mean, self.std)
        stem = find_rgb_stem(backbone, data.first_conv)
        check_reproducible(stem)
        replace_module(backbone, data.first_conv, FoldedStem(stem, mean, std))
        return GrayToFloat(mean=(0.0,), std=(1.0,))
