"""What the intensity mapping does, for `python -m graytransfer.tools.inspect` at full depth:
the raw values' histogram summary, the mapping and (for `adapt=windows`) the windows in raw
units, and how many distinct levels reach the stem on the 8-bit path vs the full-depth path."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from graytransfer.adapt.intensity import InputValues
from graytransfer.adapt.mapped import distinct_levels
from graytransfer.adapt.raw_maps import LinearMap
from graytransfer.data.decode.dicom import window_to_uint8
from graytransfer.data.decode.gray import high_depth_to_uint8


def eight_bit_view(raw: torch.Tensor, scale16: str, values: InputValues) -> torch.Tensor:
    """The same images as `data.bit_depth=8` would hand them over: DICOM modality values
    through their own window (else each image's min..max), 16-bit files by `scale16`."""
    views = []
    for image in raw.numpy():
        gray = image[0]
        if raw.dtype == torch.int16:
            if values.voi_window is not None:
                view = window_to_uint8(gray.astype(np.float64), *values.voi_window)
            else:
                view = high_depth_to_uint8(gray.astype(np.int32), "minmax")
        else:
            view = high_depth_to_uint8(gray, scale16)
        views.append(view)
    return torch.from_numpy(np.stack(views)).unsqueeze(1)


def histogram_line(raw: torch.Tensor) -> str:
    values = raw.to(torch.float64).flatten()
    q = torch.quantile(values, torch.tensor([0.0, 0.01, 0.5, 0.99, 1.0], dtype=torch.float64))
    low, p1, p50, p99, high = (f"{v:g}" for v in q.tolist())
    distinct = int(torch.unique(values).numel())
    return (
        f"raw {str(raw.dtype).removeprefix('torch.')} values of {len(raw)} image(s): min {low}, "
        f"p1 {p1}, median {p50}, p99 {p99}, max {high}; {distinct} distinct values"
    )


def window_lines(input_module: nn.Module) -> list[str]:
    """The learned windows (`adapt=windows`) as [center, width] in raw units, when the mapping
    is the linear full range; else as fractions of the mapped scale."""
    windows = getattr(input_module, "strategy_input", None)
    mapping = getattr(input_module, "intensity", None)
    if windows is None or not hasattr(windows, "centre"):
        return []
    centres = windows.centre.flatten().tolist()
    widths = windows.width.flatten().tolist()
    if isinstance(mapping, LinearMap):
        low, high = mapping.bounds.tolist()
        pairs = [
            (low + c * (high - low), w * (high - low)) for c, w in zip(centres, widths, strict=True)
        ]
        text = ", ".join(f"[{c:.5g}, {w:.5g}]" for c, w in pairs)
        return [f"windows (adapt=windows) in raw units [center, width]: {text}"]
    text = ", ".join(f"[{c:.3f}, {w:.3f}]" for c, w in zip(centres, widths, strict=True))
    return [f"windows (adapt=windows), fractions of the mapped 0..255 scale: {text}"]


def depth_report(
    raw: torch.Tensor, input_module: nn.Module, scale16: str, values: InputValues
) -> str:
    """The lines `inspect` prints about a full-depth batch `raw` and its input module."""
    mapping = getattr(input_module, "intensity", None)
    eight = eight_bit_view(raw, scale16, values)
    lines = [
        histogram_line(raw),
        f"intensity mapping: {mapping!r}" if mapping is not None else "intensity mapping: none",
        *window_lines(input_module),
        f"distinct levels reaching the stem: 8-bit path {distinct_levels(None, eight)}, "
        f"full depth {distinct_levels(mapping, raw)}",
    ]
    return "\n".join(lines)


def full_depth_section(
    intensity, strategy, net: nn.Module, dc, raw: torch.Tensor, scale16: str, values: InputValues
) -> tuple[str, torch.Tensor]:
    """(the report, the images as the rest of inspect shows them): the mapped images rounded to
    uint8, so that the layer table, equivalences and previews run as for 8-bit data."""
    import copy

    from graytransfer.adapt.mapped import input_module

    module = input_module(strategy, copy.deepcopy(net), dc, intensity, values).eval()
    with torch.no_grad():
        mapped = module.intensity(raw)
    text = depth_report(raw, module, scale16, values)
    return text, mapped.round().clamp(0, 255).to(torch.uint8)
