"""The classifier's input module at full depth: the intensity mapping
(`graytransfer.adapt.intensity`) chained in front of the strategy's own input module, plus what
export, predict and inspect ask of it (its input dtype, test images, distinct levels)."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.adapt.intensity import InputValues, IntensityMapping, Unmapped
from graytransfer.adapt.raw_maps import LinearMap, RawMapping, WindowMap


class MappedInput(nn.Module):
    """The input module at full depth: `strategy_input(intensity(x))`."""

    def __init__(self, intensity: RawMapping, strategy_input: nn.Module) -> None:
        super().__init__()
        self.intensity = intensity
        self.strategy_input = strategy_input

    @property
    def input_dtype(self) -> torch.dtype:
        return self.intensity.input_dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.strategy_input(self.intensity(x))


def input_module(
    strategy, net: nn.Module, data_config, intensity: IntensityMapping | None,
    values: InputValues | None,
) -> nn.Module:  # fmt: skip
    """The classifier's input module: the strategy's own (8-bit, no mapping: unchanged), or
    `MappedInput(mapping, strategy's)` at full depth."""
    values = values or InputValues(restoring=True)
    mapping = (intensity or Unmapped()).build(values)
    module = strategy.for_mapping(mapping).adapt(net, data_config)
    return module if mapping is None else MappedInput(mapping, module)


def distinct_levels(module: nn.Module | None, raw: torch.Tensor) -> int:
    """How many distinct values `module` (a mapping, None: the raw values) hands on for `raw`."""
    with torch.no_grad():
        out = raw if module is None else module(raw)
    return int(torch.unique(out.float()).numel())


def input_spec(module: nn.Module) -> tuple[torch.dtype, tuple[int, int]]:
    """The dtype an input module takes (uint8 without a mapping) and a raw range worth drawing
    test images from: the mapping's own range or window, else the dtype's."""
    if not isinstance(module, MappedInput):
        return torch.uint8, (0, 255)
    mapping = module.intensity
    info = torch.iinfo(mapping.input_dtype)
    if isinstance(mapping, LinearMap):
        low, high = mapping.bounds.tolist()
    elif isinstance(mapping, WindowMap):
        center, width = mapping.window.tolist()
        low, high = center - width, center + width  # both sides of the window, clipped parts too
    else:
        low, high = info.min, info.max
    return mapping.input_dtype, (max(info.min, int(low)), min(info.max, int(high)))


def random_images(
    spec: tuple[torch.dtype, tuple[int, int]], size: tuple[int, int], count: int, seed: int
) -> torch.Tensor:
    """`count` random (1, H, W) images of `spec` (`input_spec`), seeded."""
    dtype, (low, high) = spec
    generator = torch.Generator().manual_seed(seed)
    values = torch.randint(low, high + 1, (count, 1, *size), generator=generator)
    return values.to(dtype)
