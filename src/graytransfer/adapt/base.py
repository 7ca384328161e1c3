"""The strategy contract and the shared input module.

A strategy bridges a single-channel uint8 image to a pretrained 3-channel backbone. Given the
backbone and its data config it may patch the backbone's stem in place, and it returns the
*input module*: the one place that turns uint8 (N, 1, H, W) into what the backbone eats.
Scaling and normalisation therefore run on the model's device, never in the data loader.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from graytransfer.errors import UserError

if TYPE_CHECKING:  # raw_maps is a sibling; only the hook's annotation names it
    from graytransfer.adapt.raw_maps import RawMapping


@dataclass(frozen=True)
class BackboneDataConfig:
    """What the pretrained weights expect of their input: per-channel mean/std on the [0, 1]
    scale, the native (H, W), and the dotted name of the first conv (the stem)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int]
    first_conv: str


class Strategy(ABC):
    """One way of feeding grayscale images to an RGB-pretrained backbone."""

    #: short name used in configs, logs and reports
    name: str = ""

    @abstractmethod
    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        """Patch `backbone` in place if the strategy changes its stem, and return the input
        module mapping uint8 (N, 1, H, W) to the tensor the (patched) backbone expects."""

    def for_mapping(self, mapping: RawMapping | None) -> Strategy:
        """The strategy to adapt with in front of `mapping` (the intensity mapping a full-depth
        run chains before the input module; None at 8 bits). Called for every strategy before
        `adapt`; the default is the strategy itself. A strategy whose settings depend on the
        mapped scale (`windows` with CT `presets`) returns a new one built for it."""
        return self

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class GrayToFloat(nn.Module):
    """uint8 gray (N, 1, H, W) on the 0..255 scale -> normalised float (N, C, H, W).

    `mean`/`std` are on the [0, 1] scale, one value per output channel; with three values the gray
    channel is broadcast to three, each normalised with its own mean/std. The dtype follows the
    module's buffers, so `.double()` gives a float64 path for exactness tests.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != len(std):
            raise ValueError(f"mean has {len(mean)} values but std has {len(std)}")
        self._values = (tuple(float(v) for v in mean), tuple(float(v) for v in std))
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def _apply(self, fn, recurse: bool = True):
        """Casting (`.double()`, `.half()`) rounds the configured constants once, from their
        exact values, not from the float32 copies (float64 paths stay exact to ~1e-16)."""
        super()._apply(fn, recurse)
        with torch.no_grad():
            for buffer, values in zip((self.mean, self.std), self._values, strict=True):
                exact = torch.tensor(values, dtype=torch.float64).view_as(buffer)
                buffer.copy_(exact.to(buffer.device))
        return self

    @property
    def out_channels(self) -> int:
        return self.mean.shape[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) grayscale batch, got {tuple(x.shape)}")
        x = x.to(self.mean.dtype) / 255.0
        return (x - self.mean) / self.std

    def extra_repr(self) -> str:
        mean = ", ".join(f"{v:.3f}" for v in self.mean.flatten().tolist())
        std = ", ".join(f"{v:.3f}" for v in self.std.flatten().tolist())
        return f"mean=({mean}), std=({std})"


def gray_mean_std(data: BackboneDataConfig) -> tuple[float, float]:
    """One mean/std for a gray image: the average of the weights' per-channel values (what
    timm's prefetch loader uses for 1-channel input, e.g. 0.449 / 0.226 for ImageNet)."""
    return sum(data.mean) / len(data.mean), sum(data.std) / len(data.std)


def channel_mean_std(
    data: BackboneDataConfig,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean/std for three channels: the given ones, else the weights' own."""
    mean = tuple(float(v) for v in (data.mean if mean is None else mean))
    std = tuple(float(v) for v in (data.std if std is None else std))
    if len(mean) != 3 or len(std) != 3:
        raise UserError(
            f"adapt.mean/adapt.std: need 3 values each (R, G, B), got {list(mean)} and {list(std)}"
        )
    if min(std) <= 0:
        raise UserError(f"adapt.std: {list(std)} must be positive")
    return mean, std


def adapted_copy(
    net: nn.Module, strategy: Strategy, dc: BackboneDataConfig, dtype: torch.dtype
) -> tuple[nn.Module, nn.Module]:
    """(input module, backbone): a copy of `net` in `dtype`, adapted by `strategy` (`net` itself
    is left as it was)."""
    copy_ = copy.deepcopy(net).to(dtype).eval()
    return strategy.adapt(copy_, dc).to(dtype).eval(), copy_
