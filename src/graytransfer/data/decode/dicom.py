"""DICOM pixel data: modality values at full depth, or gray uint8 through a window.

Needs the optional `dicom` extra (`pip install "graytransfer[dicom]"`, i.e. pydicom).

Both paths start with the modality LUT: stored values -> `value * RescaleSlope +
RescaleIntercept` (Hounsfield units for CT), the very values of pydicom's `apply_modality_lut`.
- Full depth (`read_modality`, `data.bit_depth=16`): those values, held in the smallest dtype
  that keeps them exact (int16 for CT HU; int32, else float64 only when nothing smaller does).
  MONOCHROME1 (white = low) is inverted on the stored values first (`max - v` over the stored
  bits), so that bright always means high signal.
- 8-bit (`read_dicom`): then the window `data.dicom_window=[center, width]` when configured, else
  the file's first WindowCenter/WindowWidth, else the image's own min..max -> 0..255 with DICOM's
  linear VOI function (PS3.3 C.11.2.1.2); MONOCHROME1 is inverted after the window.

A file without pixel data, or with a compressed transfer syntax no installed decoder handles, is
a bad file with a one-line reason that says what to do.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graytransfer.data.decode.finite import check_finite
from graytransfer.errors import UserError


def _pydicom():
    try:
        import pydicom
    except ImportError as err:
        raise UserError(
            "reading DICOM (.dcm) files needs pydicom: pip install 'graytransfer[dicom]'"
        ) from err
    return pydicom


def check_window(window: Sequence[float], key: str) -> tuple[float, float]:
    """`[center, width]` with width > 0, else a UserError naming `key`."""
    values = list(window)
    if len(values) != 2:
        raise UserError(f"{key}: {values} is not [center, width]")
    center, width = float(values[0]), float(values[1])
    if not width > 0:
        raise UserError(f"{key}: width {width:g} must be > 0 (a window [center, width])")
    return center, width


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


def _dataset_and_pixels(path: str | Path):
    """(dataset, stored pixel array) of a single-frame file, with one-line reasons for files
    that hold no pixel data or need a decoder that is not installed."""
    pydicom = _pydicom()
    ds = pydicom.dcmread(str(path))
    if not any(tag in ds for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        modality = getattr(ds, "Modality", "?")
        raise ValueError(
            f"holds no pixel data (modality {modality}, e.g. a report or structure set): remove "
            "it from the image set"
        )
    try:
        pixels = ds.pixel_array
    except (RuntimeError, NotImplementedError) as err:
        syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
        if syntax is not None and syntax.is_compressed:
            raise ValueError(
                f"its transfer syntax '{syntax.name}' has no installed decoder: pip install "
                "pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg (or gdcm, pyjpegls), or store "
                "the file uncompressed"
            ) from err
        raise
    check_finite(pixels, "pixel values")  # float pixel data: NaN / inf have no grey level
    if pixels.ndim != 2 and not (pixels.ndim == 3 and int(getattr(ds, "SamplesPerPixel", 1)) == 3):
        raise ValueError(f"multi-frame DICOM with shape {pixels.shape}; give one frame per file")
    return ds, pixels


def _luminance(ds, pixels: np.ndarray) -> np.ndarray:
    """Colour samples -> ITU-R 601-2 luminance (float64); gray pixels unchanged."""
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(getattr(ds, "SamplesPerPixel", 1)) != 3:
        return pixels
    if photometric != "RGB":
        from pydicom.pixels import convert_color_space

        pixels = convert_color_space(pixels, photometric, "RGB")
    return pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


def _rescale(ds) -> tuple[float, float]:
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    return slope, intercept


def smallest_exact(values: np.ndarray) -> np.ndarray:
    """`values` (float64 or integer) in int16, else int32, when every value is a whole number
    that fits; float64 otherwise."""
    if values.dtype.kind == "f" and not np.array_equal(values, np.round(values)):
        return values
    low, high = (values.min(), values.max()) if values.size else (0, 0)
    for dtype in (np.int16, np.int32):
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype)
    return values.astype(np.float64)


def read_modality(path: str | Path) -> np.ndarray:
    """One single-frame DICOM file -> its modality values (H, W), exact, in the smallest dtype
    that holds them (see the module; MONOCHROME1 inverted on the stored values)."""
    ds, pixels = _dataset_and_pixels(path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(getattr(ds, "SamplesPerPixel", 1)) == 3:
        pixels = np.rint(_luminance(ds, pixels)).astype(np.int32)
    elif photometric == "MONOCHROME1":
        bits = int(getattr(ds, "BitsStored", 16))
        signed = int(getattr(ds, "PixelRepresentation", 0)) == 1
        top = -1 if signed else (1 << bits) - 1  # v -> top - v maps the stored range onto itself
        pixels = top - pixels.astype(np.int64)
    slope, intercept = _rescale(ds)
    if slope.is_integer() and intercept.is_integer():
        values = pixels.astype(np.int64) * int(slope) + int(intercept)
    else:
        values = pixels.astype(np.float64) * slope + intercept
    return smallest_exact(values)


def read_dicom(path: str | Path, window: Sequence[float] | None = None) -> np.ndarray:
    """One single-frame DICOM file -> gray uint8 (H, W) by the module's 8-bit rule."""
    ds, pixels = _dataset_and_pixels(path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if int(getattr(ds, "SamplesPerPixel", 1)) == 3:
        pixels = _luminance(ds, pixels)
        photometric = "MONOCHROME2"
    slope, intercept = _rescale(ds)
    values = pixels.astype(np.float64) * slope + intercept
    if window is not None:
        center, width = check_window(window, "data.dicom_window")
    elif "WindowCenter" in ds and "WindowWidth" in ds:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    else:
        low, high = float(values.min()), float(values.max())
        center, width = (low + high + 1.0) / 2.0, high - low + 1.0
    gray = window_to_uint8(values, center, width)
    if photometric == "MONOCHROME1":
        gray = 255 - gray
    return gray


def file_window(path: str | Path) -> tuple[float, float] | None:
    """The file's own first VOI window (WindowCenter, WindowWidth), read from the header only;
    None when it has none."""
    ds = _pydicom().dcmread(str(path), stop_before_pixels=True)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        return _first(ds.WindowCenter), _first(ds.WindowWidth)
    return None


def first_window(paths: Sequence[Path]) -> tuple[float, float] | None:
    """The VOI window (center, width) of the first DICOM among `paths`, or None (no DICOM, no
    window, or an unreadable file: the scan reports those)."""
    dicom = next((p for p in paths if p.suffix.lower() in (".dcm", ".dicom")), None)
    if dicom is None:
        return None
    try:
        return file_window(dicom)
    except Exception:  # noqa: BLE001 - an unreadable file is the scan's to report
        return None
