"""DICOM pixel data as gray uint8: modality rescale, then a window mapped onto 0..255.

Needs the optional `dicom` extra (`pip install "graytransfer[dicom]"`, i.e. pydicom).
The rule: stored values -> `value * RescaleSlope + RescaleIntercept` (the modality LUT, e.g.
Hounsfield units for CT) -> the window `data.dicom_window=[center, width]` when configured, else
the file's first WindowCenter/WindowWidth, else the image's own min..max -> 0..255 with DICOM's
linear VOI function (PS3.3 C.11.2.1.2). MONOCHROME1 images (white = low) are inverted so that
bright always means high signal, as in MONOCHROME2.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graytransfer.errors import UserError


def _pydicom():
    try:
        import pydicom
    except ImportError as err:
        raise UserError(
            "reading DICOM (.dcm) files needs pydicom: pip install 'graytransfer[dicom]'"
        ) from err
    return pydicom


def window_to_uint8(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM's linear window: [c - w/2, c + w/2] -> 0..255, clipped outside (width >= 1)."""
    width = max(float(width), 1.0)
    if width == 1.0:
        return np.where(values > center - 0.5, 255, 0).astype(np.uint8)
    scaled = ((values - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _first(value) -> float:
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        value = value[0]
    return float(value)


def read_dicom(path: str | Path, window: Sequence[float] | None = None) -> np.ndarray:
    """One single-frame DICOM file -> gray uint8 (H, W) by the module's rule."""
    pydicom = _pydicom()
    ds = pydicom.dcmread(str(path))
    pixels = ds.pixel_array
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(getattr(ds, "SamplesPerPixel", 1)) == 3:
        if photometric != "RGB":
            from pydicom.pixels import convert_color_space

            pixels = convert_color_space(pixels, photometric, "RGB")
        pixels = pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        photometric = "MONOCHROME2"
    if pixels.ndim != 2:
        raise ValueError(f"multi-frame DICOM with shape {pixels.shape}; give one frame per file")
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    values = pixels.astype(np.float64) * slope + intercept
    if window is not None:
        if len(window) != 2:
            raise UserError(f"data.dicom_window: {list(window)} is not [center, width]")
        center, width = float(window[0]), float(window[1])
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    else:
        low, high = float(values.min()), float(values.max())
        center, width = (low + high + 1.0) / 2.0, high - low + 1.0
    gray = window_to_uint8(values, center, width)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return gray
