"""Decoding image files into single-channel integer arrays (the dataset that reads them while
training is `graytransfer.data.store.file_images`).

Two depths (`data.bit_depth`): at `8` (the default) every file becomes uint8 by the rules below;
at full depth (`16`) files keep their stored values as uint16 (image files) or int16 (DICOM
modality values), resized at that depth: see `graytransfer.data.decode.depth`. The 8-bit rules:
- EXIF orientation is honoured.
- Colour (RGB, RGBA, CMYK, YCbCr), palette and 1-bit images become luminance, ITU-R 601-2
  (`L = 0.299 R + 0.587 G + 0.114 B`, Pillow's `convert("L")`); alpha is ignored.
- 16-bit (and 32-bit integer) images are mapped to uint8 by `scale16`:
  `full` maps 0..65535 linearly onto 0..255 (the same rule for every image, so intensities stay
  comparable across images); `minmax` maps each image's own min..max onto 0..255 (for 12-bit
  detectors and images that use a small part of the range; a constant image becomes 0).
  Float images always use the per-image min..max (one holding NaN, +inf or -inf is a bad file).
- DICOM (`.dcm`, needs the `dicom` extra) is read by `graytransfer.data.decode.dicom`.
- JPEGs are decoded by libjpeg straight to gray and, when much larger than the target, at a
  reduced DCT scale (Pillow's `draft`), which is what makes large JPEG folders fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from graytransfer.data.decode.depth import decode_stored
from graytransfer.data.decode.finite import check_finite
from graytransfer.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
DICOM_SUFFIXES = (".dcm", ".dicom")
SCALE16 = ("full", "minmax")
_HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def is_image_file(path: Path) -> bool:
    """True for a visible file whose suffix is a supported image or DICOM suffix."""
    suffix = path.suffix.lower()
    return (
        suffix in IMAGE_SUFFIXES + DICOM_SUFFIXES
        and not path.name.startswith(".")
        and path.is_file()
    )


def is_image_name(path: Path) -> bool:
    """True for a visible name with a supported image or DICOM suffix (the file may not exist)."""
    suffix = path.suffix.lower()
    return suffix in IMAGE_SUFFIXES + DICOM_SUFFIXES and not path.name.startswith(".")


@dataclass
class FolderListing:
    """What a folder holds below it, hidden files and folders at every depth left out."""

    images: list[Path] = field(default_factory=list)  #: image files, sorted
    dangling: list[Path] = field(default_factory=list)  #: symlinks with an image name, no target
    others: int = 0  #: visible files that are not images by their suffix


def list_folder(folder: Path) -> FolderListing:
    """Walk `folder` (not into symlinked folders), skipping every entry whose name starts with
    `.` (`.ipynb_checkpoints/`, `.DS_Store`, `._x.png`) at any depth."""
    found = FolderListing()
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            path = Path(top) / name
            if name.startswith("."):
                continue
            if is_image_name(path) and path.is_file():
                found.images.append(path)
            elif is_image_name(path) and path.is_symlink() and not path.exists():
                found.dangling.append(path)
            else:
                found.others += 1
    found.images.sort()
    found.dangling.sort()
    return found


def check_scale16(scale16: str) -> str:
    if scale16 not in SCALE16:
        raise UserError(f"data.scale16: '{scale16}' is not one of {list(SCALE16)}")
    return scale16


def high_depth_to_uint8(array: np.ndarray, scale16: str) -> np.ndarray:
    """Map a 16/32-bit or float array to uint8 by the documented `scale16` rule."""
    if scale16 == "full" and array.dtype.kind in "ui":
        if array.dtype == np.uint16:
            # (x * 255 + 32767) // 65535 is round(x * 255 / 65535) in integers
            return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        clipped = np.clip(array.astype(np.int64), 0, 65535)
        return ((clipped * 255 + 32767) // 65535).astype(np.uint8)
    values = check_finite(array.astype(np.float32))
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(array.shape, dtype=np.uint8)
    scaled = (values - low) * (255.0 / (high - low))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _pil_to_gray(img: Image.Image, scale16: str) -> Image.Image:
    if img.mode == "L":
        return img
    if img.mode in _HIGH_DEPTH_MODES or img.mode == "F":
        return Image.fromarray(high_depth_to_uint8(np.asarray(img), scale16))
    return img.convert("L")


def decode_gray(
    path: str | Path,
    size: tuple[int, int] | None = None,
    scale16: str = "full",
    dicom_window: Sequence[float] | None = None,
) -> np.ndarray:
    """Read one file as gray uint8 (H, W), resized (bilinear, antialiased) to `size` (H, W).

    Raises whatever the decoder raises for a broken file (OSError, ValueError, ...); callers that
    scan folders turn those into a list of bad files.
    """
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        from graytransfer.data.decode.dicom import read_dicom

        gray = Image.fromarray(read_dicom(path, dicom_window))
    else:
        with Image.open(path) as img:
            if img.format == "JPEG" and size is not None:
                side = max(size)
                img.draft("L", (side, side))
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            gray = _pil_to_gray(img, scale16)
    if size is not None:
        height, width = size
        if gray.size != (width, height):
            gray = gray.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return np.array(gray, dtype=np.uint8)  # a writable copy: torch refuses read-only arrays


def decode(
    path: str | Path,
    size: tuple[int, int] | None = None,
    scale16: str = "full",
    dicom_window: Sequence[float] | None = None,
    dtype: np.dtype | None = None,
) -> np.ndarray:
    """One file at the data set's depth: `decode_gray` for uint8 (or `dtype=None`), else the
    full-depth `graytransfer.data.decode.depth.decode_stored` into `dtype` (uint16 or int16)."""
    if dtype is None or np.dtype(dtype) == np.uint8:
        return decode_gray(path, size, scale16, dicom_window)
    return decode_stored(Path(path), size, np.dtype(dtype))


def check_file(
    path: str | Path, scale16: str = "full", dicom_window=None, dtype: np.dtype | None = None
) -> None:
    """The quick scan: structure checks that find truncated files without decoding pixels.

    PNG: every chunk and its CRC up to IEND (Pillow's `verify`); JPEG: the header parses and the
    file ends with the end-of-image marker; other formats are decoded in full. Raises like
    `decode_gray` for a bad file.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        with Image.open(path) as img:
            img.verify()
    elif suffix in (".jpg", ".jpeg"):
        with Image.open(path) as img, open(path, "rb") as handle:
            if img.format != "JPEG":
                raise OSError(f"not a JPEG file but {img.format}")
            handle.seek(max(0, path.stat().st_size - 1024))
            if not handle.read().rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
                raise OSError("no JPEG end-of-image marker: the file is truncated")
    else:
        decode(path, None, scale16, dicom_window, dtype)


def read_gray(
    path: str | Path,
    size: tuple[int, int],
    scale16: str = "full",
    dicom_window: Sequence[float] | None = None,
    dtype: np.dtype | None = None,
) -> torch.Tensor:
    """Read any supported file as a gray tensor (1, H, W) at `size` (H, W): uint8, or the
    full-depth `dtype` (see `decode`)."""
    array = decode(path, size, scale16, dicom_window, dtype)
    return torch.from_numpy(np.ascontiguousarray(array)).unsqueeze(0)
