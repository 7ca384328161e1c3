"""Intensity mapping: raw stored values -> the 0..255 float scale the strategies expect, on the
model's device (`intensity=NAME`, one class and one YAML each in `conf/intensity/`).

At full depth the loader hands out uint16 (16-bit files) or int16 (DICOM modality values, HU
for CT); the mapping runs first in the model's input module and every strategy then works on its
output exactly as on uint8 (their `x / 255` does not care whether x was an integer). So:
- `none` (the default): no mapping, the input must be uint8 (8-bit data: today's path, bit for
  bit, and checkpoints without a mapping).
- `range`: `low..high` (default: the data's measured min..max) linearly onto 0..255, not
  clipped. With `adapt=windows` the learned windows then live on the FULL range.
- `window`: a fixed `[center, width]` in raw units, DICOM's linear VOI function (PS3.3
  C.11.2.1.2, the very function the 8-bit DICOM path rounds), clipped to 0..255.
- `ct`: a named CT window (`CT_PRESETS`: lung, mediastinum, bone, brain, ...).
- `dicom_window`: the data's own VOI window, as config: the first DICOM file's
  WindowCenter/WindowWidth, read at setup and stored in the model (not per image).
- `percentile`: per image, its `low`..`high` percentiles onto 0..255, clipped (0/100 = min-max).

Data-derived values (range, the DICOM window) and the stored dtype live in persistent buffers,
so a checkpoint, an export and `predict` apply the very same mapping without the data. The chain
mapping -> strategy (the classifier's input module) is `graytransfer.adapt.mapped`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch
from torch import nn

from graytransfer.errors import UserError

#: named CT windows, (center, width) in HU (the usual radiology presets)
CT_PRESETS: dict[str, tuple[float, float]] = {
    "lung": (-600.0, 1500.0),
    "mediastinum": (50.0, 350.0),
    "abdomen": (40.0, 400.0),
    "liver": (30.0, 150.0),
    "bone": (400.0, 1800.0),
    "brain": (40.0, 80.0),
    "subdural": (75.0, 215.0),
    "stroke": (40.0, 40.0),
}
_DTYPES = {"uint8": torch.uint8, "uint16": torch.uint16, "int16": torch.int16}


@dataclass(frozen=True)
class InputValues:
    """What the data hands the model: the batches' dtype name, the measured (min, max) and, for
    DICOM sets, the files' own VOI window. `restoring`: no data (a checkpoint being rebuilt; its
    buffers bring the values)."""

    dtype: str = "uint8"
    value_range: tuple[float, float] = (0.0, 255.0)
    voi_window: tuple[float, float] | None = None
    restoring: bool = False

    @property
    def full_depth(self) -> bool:
        return self.dtype != "uint8"


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
        center, width = self.window[0], self.window[1]
        scaled = ((self.float_of(x, self.window) - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
        return scaled.clamp(0.0, 255.0)

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
            last = flat.shape[1] - 1
            lo = ordered[:, round(self.low / 100.0 * last)]
            hi = ordered[:, round(self.high / 100.0 * last)]
        lo, hi = lo.view(-1, 1, 1, 1), hi.view(-1, 1, 1, 1)
        span = torch.where(hi > lo, hi - lo, torch.ones_like(hi))
        return ((values - lo) / span * 255.0).clamp(0.0, 255.0)

    def extra_repr(self) -> str:
        return f"per image p{self.low:g}..p{self.high:g} -> 0..255"


class IntensityMapping(ABC):
    """A config choice: builds the mapping module for the data's `InputValues`, or None."""

    name: str = ""

    @abstractmethod
    def build(self, values: InputValues) -> RawMapping | None:
        """The module mapping raw values of `values.dtype` onto 0..255 (None: no mapping)."""


class Unmapped(IntensityMapping):
    """No mapping: the model takes uint8 0..255 (today's path)."""

    name = "none"

    def build(self, values: InputValues) -> RawMapping | None:
        if values.full_depth:
            low, high = values.value_range
            raise UserError(
                f"intensity=none takes 8-bit images, but the data hands the model {values.dtype} "
                f"values {low:g}..{high:g} (data.bit_depth): choose intensity=range, window, ct, "
                "dicom_window or percentile"
            )
        return None


def _window(center: float, width: float, key: str) -> tuple[float, float]:
    if not float(width) >= 1.0:
        raise UserError(
            f"{key}: width {float(width):g} must be at least 1 (raw units: a window "
            "[center, width] of the stored values)"
        )
    return float(center), float(width)


class FullRange(IntensityMapping):
    """`low..high` onto 0..255 (unclipped); null bounds are the data's measured min / max."""

    name = "range"

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low, self.high = low, high
        if low is not None and high is not None and not float(high) > float(low):
            raise UserError(f"intensity.low/high: {low}..{high} is not a range (need high > low)")

    def build(self, values: InputValues) -> RawMapping:
        low = values.value_range[0] if self.low is None else float(self.low)
        high = values.value_range[1] if self.high is None else float(self.high)
        if not high > low:
            high = low + 1.0  # a constant data set: any positive span maps it to 0
        return LinearMap(low, high, values.dtype)


class Window(IntensityMapping):
    """A fixed window `[center, width]` in raw units (HU for CT)."""

    name = "window"

    def __init__(self, center: float, width: float) -> None:
        self.center, self.width = _window(center, width, "intensity.width")

    def build(self, values: InputValues) -> RawMapping:
        return WindowMap(self.center, self.width, values.dtype)


class CTPreset(Window):
    """A named CT window (`CT_PRESETS`)."""

    name = "ct"

    def __init__(self, preset: str = "mediastinum") -> None:
        if preset not in CT_PRESETS:
            raise UserError(f"intensity.preset: '{preset}' is not one of {sorted(CT_PRESETS)}")
        self.preset = preset
        super().__init__(*CT_PRESETS[preset])


class DicomWindow(IntensityMapping):
    """The DICOM files' own VOI window (the first file's), stored in the model."""

    name = "dicom_window"

    def build(self, values: InputValues) -> RawMapping:
        if values.voi_window is None:
            if not values.restoring:
                raise UserError(
                    "intensity=dicom_window: the data's first DICOM file has no WindowCenter/"
                    "WindowWidth; choose intensity=window with intensity.center/width, or ct"
                )
            return WindowMap(0.0, 1.0, values.dtype)  # restored from a checkpoint's buffers
        return WindowMap(*_window(*values.voi_window, "the DICOM files' WindowWidth"), values.dtype)


class Percentile(IntensityMapping):
    """Per image: the `low`..`high` percentiles onto 0..255 (0 and 100: min-max)."""

    name = "percentile"

    def __init__(self, low: float = 0.5, high: float = 99.5) -> None:
        if not 0.0 <= float(low) < float(high) <= 100.0:
            raise UserError(
                f"intensity.low/high: {low}..{high} must satisfy 0 <= low < high <= 100"
            )
        self.low, self.high = float(low), float(high)

    def build(self, values: InputValues) -> RawMapping:
        return PercentileMap(self.low, self.high, values.dtype)
