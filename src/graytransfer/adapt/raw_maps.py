"""The intensity mapping modules: raw stored values (uint8, uint16, int16) -> float 0..255 on the
model's device, first in the classifier's input module. Which one a run uses, built from its
data's measured values, is the config choice's job (`graytransfer.adapt.intensity`).
"""

from __future__ import annotations

import torch
from torch import nn

_DTYPES = {"uint8": torch.uint8, "uint16": torch.uint16, "int16": torch.int16}


class RawMapping(nn.Module):
    """Base of the mapping modules: raw (N, 1, H, W) -> float (N, 1, H, W) on 0..255. Holds the
    stored dtype's name as an int64 buffer pair (its min, max), for export and predict."""

    def __init__(self, dtype: str) -> None:
        super().__init__()
        info = torch.iinfo(_DTYPES[dtype])
        self.register_buffer("stored_range", torch.tensor([info.min, info.max]))

    @property
    def input_dtype(self) -> torch.dtype:
        low, high = self.stored_range.tolist()
        return next(d for d in _DTYPES.values() if (torch.iinfo(d).min, torch.iinfo(d).max)
                    == (low, high))  # fmt: skip

    def float_of(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) grayscale batch, got {tuple(x.shape)}")
        return x.to(like.dtype)


class LinearMap(RawMapping):
    """`(x - low) / (high - low) * 255`, not clipped."""

    def __init__(self, low: float, high: float, dtype: str) -> None:
        super().__init__(dtype)
        self.register_buffer("bounds", torch.tensor([float(low), float(high)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low, high = self.bounds[0], self.bounds[1]
        return (self.float_of(x, self.bounds) - low) * (255.0 / (high - low))

    def fraction(self, value: float) -> float:
        """Where a raw value falls on this range, 0..1."""
        low, high = self.bounds.tolist()
        return (value - low) / (high - low)

    def extra_repr(self) -> str:
        low, high = self.bounds.tolist()
        return f"{low:g}..{high:g} -> 0..255"


class WindowMap(RawMapping):
    """DICOM's linear VOI window `[center, width]` onto 0..255, clipped outside."""

    def __init__(self, center: float, width: float, dtype: str) -> None:
        super().__init__(dtype)
        self.register_buffer("window", torch.tensor([float(center), float(width)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """PS3.3 C.11.2.1.2 piecewise: `x <= c - 0.5 - (w-1)/2` -> 0, `x > c - 0.5 + (w-1)/2`
        -> 255, linear between. Written piecewise so that width 1 (no linear part: a threshold
        at `c - 0.5`) gives 0 or 255, never `0 / 0`."""
        center, width = self.window[0], self.window[1]
        values = self.float_of(x, self.window)
        offset = values - (center - 0.5)
        half = (width - 1.0) / 2.0
        linear = ((offset / (width - 1.0).clamp_min(1e-6) + 0.5) * 255.0).clamp(0.0, 255.0)
        low, high = torch.zeros_like(linear), torch.full_like(linear, 255.0)
        return torch.where(offset <= -half, low, torch.where(offset > half, high, linear))

    def levels_of(self, low: float, high: float) -> tuple[float, float]:
        """The grey levels (0..255) that the raw values `low` and `high` map to."""
        with torch.no_grad():
            levels = self(torch.tensor([low, high]).view(1, 1, 1, 2)).flatten().tolist()
        return levels[0], levels[1]

    def extra_repr(self) -> str:
        center, width = self.window.tolist()
        return f"center={center:g}, width={width:g}"


class PercentileMap(RawMapping):
    """Each image's `low`..`high` percentiles (nearest rank) onto 0..255, clipped; a constant
    image maps to 0."""

    def __init__(self, low: float, high: float, dtype: str) -> None:
        super().__init__(dtype)
        self.low, self.high = float(low), float(high)
        self.register_buffer("zero", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = self.float_of(x, self.zero)
        flat = values.flatten(1)
        if self.low == 0.0 and self.high == 100.0:
            lo, hi = flat.amin(dim=1), flat.amax(dim=1)
        else:
            ordered = flat.sort(dim=1).values
            # nearest rank, as Python's round() (half to even), in tensor ops so that a traced
            # (TorchScript) export keeps the size dependence: round() of a traced size fails
            last = flat.shape[1] - 1
            percents = torch.tensor([self.low, self.high], dtype=torch.float64, device=x.device)
            rank = (percents / 100.0 * last).round().long()
            lo, hi = ordered[:, rank[0]], ordered[:, rank[1]]
        lo, hi = lo.view(-1, 1, 1, 1), hi.view(-1, 1, 1, 1)
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        return ((values - lo) / span * 255.0).clamp(0.0, 255.0)

    def extra_repr(self) -> str:
        return f"per image p{self.low:g}..p{self.high:g} -> 0..255"
