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
so a checkpoint, an export and `predict` apply the very same mapping without the data. The modules
that do the mapping are `graytransfer.adapt.raw_maps`; the chain mapping -> strategy (the
classifier's input module) is `graytransfer.adapt.mapped`.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass

from graytransfer.adapt.raw_maps import LinearMap, PercentileMap, RawMapping, WindowMap
from graytransfer.errors import UserError

#: where the measured values come from, in messages
DATA_KEYS = "the data (data.root / data.csv)"

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


@dataclass(frozen=True)
class InputValues:
    """What the data hands the model: the batches' dtype name, the measured (min, max) and, for
    DICOM sets, the files' own VOI window. `restoring`: no data (a checkpoint being rebuilt; its
    buffers bring the values)."""

    dtype: str = "uint8"
    value_range: tuple[float, float] = (0.0, 255.0)
    voi_window: tuple[float, float] | None = None
    restoring: bool = False

    def range_text(self) -> str:
        """The measured values, for messages: `30000..30005 (uint16)`."""
        low, high = self.value_range
        return f"{low:g}..{high:g} ({self.dtype})"

    @property
    def full_depth(self) -> bool:
        return self.dtype != "uint8"


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


def _number(value: object, key: str) -> float:
    """`value` as a finite float, else a one-line UserError naming `key`."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise UserError(f"{key}: {value!r} is not a finite number (raw units of the stored values)")
    return number


def _window(center: object, width: object, keys: tuple[str, str]) -> tuple[float, float]:
    """`(center, width)`: both finite and width >= 1 (DICOM's linear VOI function, PS3.3
    C.11.2.1.2), else a one-line UserError naming the key (`keys`: center's, width's)."""
    center, width = _number(center, keys[0]), _number(width, keys[1])
    if not width >= 1.0:
        raise UserError(
            f"{keys[1]}: width {width:g} must be at least 1 (raw units: a window "
            "[center, width] of the stored values)"
        )
    return center, width


def _refuse_one_level(mapping: WindowMap, values: InputValues, what: str) -> WindowMap:
    """`mapping` when the data's measured range spreads over at least one grey level of it; a
    one-line UserError (measured range, window, what to do) when the window sends the whole
    range to (nearly) one level: data entirely below or above it. A constant data set is one
    level whatever the window, and a restored model has no data: both pass."""
    low, high = values.value_range
    if values.restoring or not high > low:
        return mapping
    first, last = mapping.levels_of(low, high)
    if last - first >= 1.0:
        return mapping
    center, width = mapping.window.tolist()
    span = f"{center - width / 2:g}..{center + width / 2:g}"
    fit = f"intensity.center={(low + high) / 2:g} intensity.width={high - low + 1:g}"
    raise UserError(
        f"{what} [center {center:g}, width {width:g}: {span}] misses the data: its measured "
        f"values {values.range_text()} in {DATA_KEYS} lie {_side(first, last)}: choose a "
        f"window over the data (intensity=window {fit}), another preset, or intensity=range"
    )


def _side(first: float, last: float) -> str:
    """Where the data lies relative to a window that maps it to the levels `first..last`."""
    if first == last == 0.0:
        return "at or below the window's low end, so every pixel becomes 0"
    if first == last == 255.0:
        return "at or above the window's high end, so every pixel becomes 255"
    return f"at the window's edge, so every pixel becomes {first:.1f}..{last:.1f} of 0..255"


class FullRange(IntensityMapping):
    """`low..high` onto 0..255 (unclipped); null bounds are the data's measured min / max. A
    bound given on the far side of the data (low at or above its max, high at or below its min)
    is refused with the measured range."""

    name = "range"

    def __init__(self, low: float | None = None, high: float | None = None) -> None:
        self.low = None if low is None else _number(low, "intensity.low")
        self.high = None if high is None else _number(high, "intensity.high")
        if self.low is not None and self.high is not None and not self.high > self.low:
            raise UserError(f"intensity.low/high: {low}..{high} is not a range (need high > low)")

    def build(self, values: InputValues) -> RawMapping:
        if not values.restoring:
            self._check_against(values)
        low = values.value_range[0] if self.low is None else self.low
        high = values.value_range[1] if self.high is None else self.high
        if not high > low:
            high = low + 1.0  # a constant data set: any positive span maps it to 0
        return LinearMap(low, high, values.dtype)

    def _check_against(self, values: InputValues) -> None:
        """A bound past the far end of the measured range maps every pixel outside 0..255."""
        data_low, data_high = values.value_range
        fix = "leave it null (the data's own {}) or set it {} {:g}"
        if self.low is not None and self.low >= data_high:
            raise UserError(
                f"intensity.low={self.low:g} is at or above the data's measured max: its values "
                f"{values.range_text()} in {DATA_KEYS} all lie at or below it; "
                + fix.format("min", "below", data_high)
            )
        if self.high is not None and self.high <= data_low:
            raise UserError(
                f"intensity.high={self.high:g} is at or below the data's measured min: its values "
                f"{values.range_text()} in {DATA_KEYS} all lie at or above it; "
                + fix.format("max", "above", data_low)
            )


class Window(IntensityMapping):
    """A fixed window `[center, width]` in raw units (HU for CT): both finite, width >= 1.
    Built on data whose measured range it sends to one level, it refuses (`_refuse_one_level`)."""

    name = "window"

    def __init__(self, center: float, width: float) -> None:
        self.center, self.width = _window(center, width, ("intensity.center", "intensity.width"))

    def describe(self) -> str:
        return "intensity=window"

    def build(self, values: InputValues) -> RawMapping:
        mapping = WindowMap(self.center, self.width, values.dtype)
        return _refuse_one_level(mapping, values, self.describe())


class CTPreset(Window):
    """A named CT window (`CT_PRESETS`)."""

    name = "ct"

    def __init__(self, preset: str = "mediastinum") -> None:
        if preset not in CT_PRESETS:
            raise UserError(f"intensity.preset: '{preset}' is not one of {sorted(CT_PRESETS)}")
        self.preset = preset
        super().__init__(*CT_PRESETS[preset])

    def describe(self) -> str:
        return f"intensity=ct intensity.preset={self.preset}"


class DicomWindow(IntensityMapping):
    """The DICOM files' own VOI window (the first file's), stored in the model. Refused in one
    line when the data holds no DICOM file at full depth, when the file has no window, or when
    the window misses the data (`_refuse_one_level`)."""

    name = "dicom_window"

    def build(self, values: InputValues) -> RawMapping:
        if values.voi_window is None:
            if not values.restoring:
                raise UserError(self._missing(values))
            return WindowMap(0.0, 1.0, values.dtype)  # restored from a checkpoint's buffers
        keys = ("the DICOM files' WindowCenter", "the DICOM files' WindowWidth")
        mapping = WindowMap(*_window(*values.voi_window, keys), values.dtype)
        return _refuse_one_level(mapping, values, "intensity=dicom_window (the first file's)")

    @staticmethod
    def _missing(values: InputValues) -> str:
        """Why there is no window: no DICOM file (image files at full depth), DICOM read at 8
        bits (already windowed, or not DICOM at all), or a DICOM file without one."""
        other = "choose intensity=window with intensity.center/width, ct or range"
        if values.dtype == "int16":
            return (
                "intensity=dicom_window: the data's first DICOM file has no WindowCenter/"
                f"WindowWidth; {other}"
            )
        if values.dtype == "uint8":
            return (
                "intensity=dicom_window: the data hands the model 8-bit images, not DICOM values: "
                f"{DATA_KEYS} holds no DICOM file, or data.bit_depth=8 has windowed them "
                "already; for DICOM files set data.bit_depth=16, otherwise choose intensity=none"
            )
        return (
            f"intensity=dicom_window: there is no DICOM file (.dcm, .dicom) in {DATA_KEYS} "
            f"(its images hold {values.dtype} values), so there is no DICOM window: {other}, or "
            "point the data at DICOM files"
        )


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
