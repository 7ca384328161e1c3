"""Helpers that write real image files of every kind the loaders must take."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_png8(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8), mode="L").save(path)
    return path


def write_16bit(path: Path, array: np.ndarray) -> Path:
    """A 16-bit grayscale PNG or TIFF (by suffix) holding `array` exactly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint16)).save(path)
    return path


def truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def noise(seed: int, shape: tuple[int, int] = (24, 20), high: int = 256) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high, shape)


def class_folders(root: Path, counts: dict[str, int], size=(24, 20)) -> Path:
    """`root/<class>/<i>.png`, 8-bit noise images; returns root."""
    for k, (name, n) in enumerate(counts.items()):
        for i in range(n):
            write_png8(root / name / f"{i:03d}.png", noise(100 * k + i, size))
    return root


def write_jpeg(path: Path, array: np.ndarray, **options) -> Path:
    """A JPEG of `array` (gray (H, W) or colour (H, W, 3)); `options` go to Pillow's save."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array.astype(np.uint8)).save(path, "JPEG", **options)
    return path


def truncate_keep_end_marker(path: Path, keep: float = 0.5) -> Path:
    """Cut a JPEG's data short and append the end-of-image marker, as "repair" tools do: the
    quick scan's end-marker check passes, and Pillow loads it without complaint."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)] + b"\xff\xd9")
    return path


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """An IDX file (MNIST's format): 0, 0, type 0x08 (uint8), ndim, big-endian dims, values;
    gzip-compressed to `<path>.gz` when `compress`."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def write_medmnist(path: Path, counts: dict[str, int], classes: int, size: int = 28) -> dict:
    """A MedMNIST `.npz` (`<split>_images` uint8 (N, H, W), `<split>_labels` (N, 1)), labels
    cycling through `classes`; returns the arrays written."""
    rng = np.random.default_rng(7)
    arrays = {}
    for split, n in counts.items():
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size)).astype(np.uint8)
        arrays[f"{split}_labels"] = (np.arange(n) % classes).reshape(-1, 1).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def numbered_pngs(folder: Path, count: int, seed: int = 0) -> list[str]:
    """`folder/<i>.png` for i < `count`, 8-bit noise; returns their paths relative to
    `folder`'s parent (as a CSV next to `folder` lists them)."""
    for i in range(count):
        write_png8(folder / f"{i}.png", noise(seed + i))
    return [f"{folder.name}/{i}.png" for i in range(count)]


def write_table(path: Path, header: str, rows: list[tuple]) -> Path:
    """A CSV file: `header`, then one comma-joined line per row."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def write_digits(folder: Path, count: int, size: int) -> list[Path]:
    """`count` real digits (scikit-learn's 8x8, scaled to 0..255) as PNG files
    `folder/digit_<i>.png`, resized to `size` x `size`."""
    digits = load_digits()
    folder.mkdir(parents=True)
    paths = []
    for i in range(count):
        raw = np.round(digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
        path = folder / f"digit_{i:03d}.png"
        Image.fromarray(raw).resize((size, size), Image.Resampling.BILINEAR).save(path)
        paths.append(path)
    return paths


def write_digits_with_bad_files(folder: Path, count: int, size: int) -> tuple[list[Path], Path]:
    """`write_digits` plus what predict must skip or ignore: `broken.png` (a cut-off PNG,
    returned), `gone.png` (a link to nowhere) and a hidden `.ipynb_checkpoints/` non-image."""
    paths = write_digits(folder, count, size)
    broken = folder / "broken.png"
    broken.write_bytes(paths[0].read_bytes()[:60])
    (folder / "gone.png").symlink_to(folder.parent / "nowhere.png")
    hidden = folder / ".ipynb_checkpoints" / "digit_000-checkpoint.png"
    hidden.parent.mkdir()
    hidden.write_bytes(b"not an image")
    return paths, broken


#: `write_dicom` arguments of a CT-like file: HU = stored - 1024, the soft-tissue window 40/400
CT = {"intercept": -1024.0, "window": (40.0, 400.0)}


def write_dicom(
    path: Path,
    stored: np.ndarray,
    slope: float = 1.0,
    intercept: float = 0.0,
    window: tuple[float, float] | None = None,
    photometric: str = "MONOCHROME2",
) -> Path:
    """A one-frame DICOM file (pydicom): uint16 `stored` values, rescale `slope` and
    `intercept`, (centre, width) `window` if given, and `photometric` interpretation."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    ds.PixelData = stored.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
