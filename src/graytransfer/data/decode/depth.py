"""Full bit depth: image files decoded to their stored integer values, resized at that depth.

`data.bit_depth`: `8` is today's path (every image squeezed to uint8 by `data.scale16`), `16`
keeps what the files hold, `auto` chooses 16 when any file holds more than 8 bits (a header
read per file) and 8 otherwise.

At full depth a data set has ONE stored dtype, so that batches stack:
- image files (PNG, TIFF, ...) -> uint16. 16-bit files are kept exactly; 8-bit (and colour,
  which becomes 8-bit luminance first) files are widened by x257 (0 -> 0, 255 -> 65535, the
  inverse of `scale16=full`), said once per data set; 32-bit integer files must hold values in
  0..65535 and 32-bit float files whole numbers in that range (NaN, +inf, -inf or fractions
  are a bad file: nothing is rounded or clipped silently).
- DICOM -> int16 modality values (`graytransfer.data.decode.dicom.read_modality`, HU for CT).

Resizing runs at the stored depth: Pillow's BILINEAR filter (the 8-bit path's own filter, with
the same `reducing_gap`) on a float32 copy (exact for every 16-bit value), rounded back to the
stored dtype. Pillow rather than torch so that the 8-bit and full-depth paths differ only in
the depth, not in the filter.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from graytransfer.data.decode.finite import check_finite
from graytransfer.errors import UserError

BIT_DEPTHS = (8, 16, "auto")
DICOM_SUFFIXES = (".dcm", ".dicom")
_SIXTEEN = ("I;16", "I;16B", "I;16L", "I;16N")
#: the dtype a data set is held in at full depth, by the kind of its files
STORED = {"image": np.dtype(np.uint16), "dicom": np.dtype(np.int16)}


def check_bit_depth(value: int | str) -> int | str:
    """`8`, `16` or `auto` (strings `"8"`/`"16"` from the command line too)."""
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if value not in BIT_DEPTHS:
        raise UserError(f"data.bit_depth: {value!r} is not one of 8, 16, auto")
    return value


def is_dicom(path: Path) -> bool:
    return Path(path).suffix.lower() in DICOM_SUFFIXES


def exact_cast(array: np.ndarray, dtype: np.dtype, what: str = "values") -> np.ndarray:
    """`array` as `dtype` when every value is held exactly, else a ValueError saying so."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if array.dtype.kind == "f":
        check_finite(array, what)
        if not np.array_equal(array, np.round(array)):
            raise ValueError(
                f"{what} are not whole numbers ({float(array.min()):g}..{float(array.max()):g}); "
                f"they cannot be held exactly as {dtype.name}: convert the file to integers, or "
                "use data.bit_depth=8"
            )
    info = np.iinfo(dtype)
    low, high = (array.min(), array.max()) if array.size else (0, 0)
    if low < info.min or high > info.max:
        raise ValueError(
            f"{what} {low:g}..{high:g} do not fit {dtype.name} ({info.min}..{info.max}); "
            "nothing is clipped: convert the file, or use data.bit_depth=8"
        )
    return array.astype(dtype)


def widen(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """8-bit values into a full-depth data set: x257 into uint16 (255 -> 65535); kept as they
    are in an int16 (DICOM) set (8-bit colour DICOM luminance)."""
    if array.dtype == np.uint8 and np.dtype(dtype) == np.uint16:
        return array.astype(np.uint16) * np.uint16(257)
    return exact_cast(array, dtype)


def pil_values(img: Image.Image) -> np.ndarray:
    """A decoded Pillow image's gray values at the depth it holds: uint8 for 8-bit and colour
    (ITU-R 601-2 luminance), uint16 for 16-bit, int32 / float32 for 32-bit modes."""
    if img.mode == "L":
        return np.asarray(img)
    if img.mode in _SIXTEEN:
        return np.asarray(img).astype(np.uint16)
    if img.mode in ("I", "F"):
        return np.asarray(img)
    return np.asarray(img.convert("L"))


def resize_stored(array: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
    """Bilinear resize (Pillow, antialiased, `reducing_gap=3`) of an integer array at its own
    depth: through float32, rounded and clipped back to the array's dtype."""
    if size is None or array.shape == tuple(size):
        return array
    height, width = size
    image = Image.fromarray(array.astype(np.float32), mode="F")
    resized = image.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=3.0)
    info = np.iinfo(array.dtype)
    return np.clip(np.rint(np.asarray(resized)), info.min, info.max).astype(array.dtype)


def decode_stored(path: Path, size: tuple[int, int] | None, dtype: np.dtype) -> np.ndarray:
    """One file at full depth as `dtype` (H, W), resized at that depth (see the module)."""
    path = Path(path)
    if is_dicom(path):
        from graytransfer.data.decode.dicom import read_modality

        values = read_modality(path)
    else:
        with Image.open(path) as img:
            img.load()
            ImageOps.exif_transpose(img, in_place=True)
            values = pil_values(img)
    kind = "DICOM modality values" if is_dicom(path) else f"{values.dtype.name} values"
    stored = widen(values, dtype) if values.dtype == np.uint8 else exact_cast(values, dtype, kind)
    return resize_stored(np.ascontiguousarray(stored), size)


def file_is_8bit(path: Path) -> bool:
    """From the header alone: whether an image file holds 8-bit (or colour 8-bit) values."""
    if is_dicom(path):
        return False
    try:
        with Image.open(path) as img:
            return img.mode not in (*_SIXTEEN, "I", "F")
    except Exception:  # noqa: BLE001 - a broken file is the scan's to report
        return True


def stored_dtype(paths: Sequence[Path], where: str) -> np.dtype:
    """The one dtype a full-depth data set is held in; mixing DICOM and other files is an error
    (HU and grey levels do not share a scale)."""
    dicom = [p for p in paths if is_dicom(p)]
    if dicom and len(dicom) < len(paths):
        other = next(p for p in paths if not is_dicom(p))
        raise UserError(
            f"{where} mixes DICOM files (e.g. '{dicom[0]}') and other images (e.g. '{other}'); "
            "at data.bit_depth=16 their values mean different things: keep one kind per data set"
        )
    return STORED["dicom" if dicom else "image"]


def resolve_depth(bit_depth: int | str, paths: Sequence[Path], where: str, threads: int) -> int:
    """8 or 16 for the files at `paths`: `auto` is 16 when any holds more than 8 bits. At 16, a
    set that also holds 8-bit files gets one warning: they are widened (x257)."""
    if bit_depth == 8:
        return 8
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        eight = list(pool.map(file_is_8bit, paths, chunksize=64))
    count = sum(eight)
    if bit_depth == "auto" and count == len(paths):
        return 8
    if count:
        example = paths[eight.index(True)]
        warnings.warn(
            f"data.bit_depth={bit_depth}: {count} of the {len(paths)} files in {where} hold 8-bit "
            f"values (e.g. '{example}'); they are widened to 16 bits (x257: 255 -> 65535)",
            UserWarning,
            stacklevel=2,
        )
    return 16


def dtype_range(dtype: np.dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


#: how many files `value_range` decodes when the scan decoded none
RANGE_SAMPLE = 64


def value_range(
    paths: Sequence[Path],
    ranges: dict[Path, tuple[int, int]],
    decode: Callable[[Path], np.ndarray],
    dtype: np.dtype,
) -> tuple[float, float]:
    """min..max of the stored values: over `ranges` (per file, as the scan decoded them), else
    over an even sample of `paths` decoded with `decode` (undecodable files skipped: the loaders
    report them), else the whole range of `dtype`. `ranges` is filled in place."""
    if not ranges:
        for path in paths[:: max(1, len(paths) // RANGE_SAMPLE)][:RANGE_SAMPLE]:
            try:
                image = decode(path)
            except Exception:  # noqa: BLE001 - a bad file is reported by the loaders
                continue
            ranges[path] = (int(image.min()), int(image.max()))
    if not ranges:
        ranges[paths[0] if paths else Path()] = dtype_range(dtype)
    return (
        float(min(r[0] for r in ranges.values())),
        float(max(r[1] for r in ranges.values())),
    )
