"""`windows`: three learned intensity windows as the three channels, as in learnable-windowing
work for X-ray and CT. Window i maps the gray level x (on [0, 1]) to
`sigmoid(4 (x - centre_i) / width_i)`: about 0.12 at the window's lower edge, 0.88 at its upper
edge, saturating outside. Centres and widths (kept positive through their log) are trained with
the network; the windowed images are normalised with one gray mean/std.

x is the input on the 0..255 scale divided by 255: uint8 at 8 bits, or at full depth the output
of the intensity mapping (`graytransfer.adapt.intensity`), a float with no 8-bit steps. Under
`intensity=range` the windows therefore learn over the data's FULL range (centres and widths are
fractions of it); `presets=[lung, mediastinum, bone]` starts them at those CT windows."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, Strategy, gray_mean_std
from graytransfer.adapt.intensity import CT_PRESETS
from graytransfer.adapt.raw_maps import LinearMap, RawMapping
from graytransfer.errors import UserError


def preset_windows(
    presets: Sequence[str], mapping: RawMapping | None
) -> tuple[list[float], list[float]]:
    """Centres and widths (fractions of the mapped 0..1 scale) of named CT windows, for
    `adapt=windows` on a linear full-range mapping."""
    if not isinstance(mapping, LinearMap):
        raise UserError(
            f"adapt.presets {list(presets)}: windows initialised from CT presets need the "
            "full-range mapping (intensity=range, data.bit_depth=16)"
        )
    unknown = [p for p in presets if p not in CT_PRESETS]
    if unknown:
        raise UserError(f"adapt.presets: {unknown} not among {sorted(CT_PRESETS)}")
    low, high = mapping.bounds.tolist()
    centres = [mapping.fraction(CT_PRESETS[p][0]) for p in presets]
    widths = [CT_PRESETS[p][1] / (high - low) for p in presets]
    return centres, widths


class SigmoidWindows(nn.Module):
    """Gray (N, 1, H, W) on 0..255 (uint8 or float) -> (N, K, H, W), one learned sigmoid window
    per channel."""

    def __init__(
        self, centres: Sequence[float], widths: Sequence[float], mean: float, std: float
    ) -> None:
        super().__init__()
        self.centre = nn.Parameter(torch.tensor(centres, dtype=torch.float32).view(1, -1, 1, 1))
        width = torch.tensor(widths, dtype=torch.float32).view(1, -1, 1, 1)
        self.log_width = nn.Parameter(width.log())
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))

    @property
    def width(self) -> torch.Tensor:
        return self.log_width.exp()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected a (N, 1, H, W) grayscale batch, got {tuple(x.shape)}")
        image = x.to(self.centre.dtype) / 255.0
        windows = torch.sigmoid(4.0 * (image - self.centre) / self.width)
        return (windows - self.mean) / self.std

    def extra_repr(self) -> str:
        centres = ", ".join(f"{v:.3f}" for v in self.centre.flatten().tolist())
        widths = ", ".join(f"{v:.3f}" for v in self.width.flatten().tolist())
        return f"centres=({centres}), widths=({widths})"


class Windows(Strategy):
    """Three learned windows (dark, middle, bright at init) as the channels; backbone untouched.

    `presets` (three names of `graytransfer.adapt.intensity.CT_PRESETS`, full depth with
    `intensity=range` only): start the windows there instead of at `centres`/`widths`."""

    name = "windows"

    def __init__(
        self,
        centres: Sequence[float] = (0.25, 0.5, 0.75),
        widths: Sequence[float] = (0.5, 0.5, 0.5),
        presets: Sequence[str] | None = None,
    ) -> None:
        self.presets = list(presets) if presets else None
        if self.presets is not None and len(self.presets) != 3:
            raise UserError(f"adapt.presets: need 3 window names, got {self.presets}")
        centres, widths = list(centres), list(widths)
        if len(centres) != 3 or len(widths) != 3:
            raise UserError(
                f"adapt.centres/adapt.widths: need 3 values each, got {centres} and {widths}"
            )
        if min(widths) <= 0:
            raise UserError(f"adapt.widths: {widths} must be positive (fractions of 0..255)")
        self.centres = centres
        self.widths = widths

    def for_mapping(self, mapping: RawMapping | None) -> Windows:
        """With `presets`: windows starting at those CT windows on `mapping`'s scale (a
        full-range `LinearMap`, else a UserError); without: this strategy unchanged."""
        if not self.presets:
            return self
        centres, widths = preset_windows(self.presets, mapping)
        return Windows(centres=centres, widths=widths)

    def adapt(self, backbone: nn.Module, data: BackboneDataConfig) -> nn.Module:
        return SigmoidWindows(self.centres, self.widths, *gray_mean_std(data))

    def __repr__(self) -> str:
        presets = f", presets={self.presets}" if self.presets else ""
        return f"Windows(centres={self.centres}, widths={self.widths}{presets})"
