"""`data.bit_depth`: 16-bit files reach the batches whole (uint16), resized at their depth; the
8-bit path is bit for bit what it was; cache, scan, augmentation, CSV and folder modules work at
16 bits; bad input is one line naming the file or key."""

from __future__ import annotations

import csv
import hashlib
import re

import numpy as np
import pytest
import torch
from helpers.datafiles import write_16bit, write_png8
from PIL import Image

from graytransfer.data import CsvDataModule, FolderDataModule
from graytransfer.data.decode.depth import decode_stored, resize_stored
from graytransfer.data.decode.gray import decode, decode_gray
from graytransfer.errors import UserError

#: sha256[:16] of today's uint8 outputs (`decode_gray`, computed before the full-depth change)
GOLDEN = {
    "g12.tif|(16, 16)|full": "132bf45af1efab36", "g12.tif|(16, 16)|minmax": "930d724b227406fb",
    "g12.tif|(84, 112)|full": "b05473d62239bb46", "g12.tif|(84, 112)|minmax": "8835e9a773012f4e",
    "g16.png|(16, 16)|full": "b1ae6b780763af6c", "g16.png|(16, 16)|minmax": "99ccccea7ff9b626",
    "g16.png|(84, 112)|full": "a569a55102411600", "g16.png|(84, 112)|minmax": "243859f1b8168698",
    "g8.png|(16, 16)|full": "8a850e2558570029", "g8.png|(84, 112)|full": "03213a9e50c97694",
    "rgb.png|(16, 16)|full": "bdbc16ad6a7b1697", "rgb.png|(84, 112)|full": "8a42f99ee3d986e4",
    "CT_small.dcm|(16, 16)|full": "a1b40be361ff33bf",
    "CT_small.dcm|(84, 112)|full": "5b0caf43e1c0bf71",
    "MR_small.dcm|(16, 16)|full": "20be2993228fef48",
    "MR_small.dcm|(84, 112)|full": "2c946e9ed73a5e21",
}  # fmt: skip


def golden_files(root):
    """The very files the golden hashes were computed on (seeded; PNG/TIFF are lossless)."""
    from pydicom.data import get_testdata_file

    rng = np.random.default_rng(13)
    root.mkdir(parents=True, exist_ok=True)
    Image.fromarray(rng.integers(0, 256, (40, 30)).astype(np.uint8)).save(root / "g8.png")
    Image.fromarray(rng.integers(0, 65536, (40, 30)).astype(np.uint16)).save(root / "g16.png")
    Image.fromarray(rng.integers(0, 4096, (40, 30)).astype(np.uint16)).save(root / "g12.tif")
    rng.integers(0, 256, (48, 64, 3))  # (a JPEG was drawn here; lossy, so not compared)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3)).astype(np.uint8)).save(root / "rgb.png")
    files = {p.name: p for p in root.iterdir()}
    return files | {n: get_testdata_file(n) for n in ("CT_small.dcm", "MR_small.dcm")}


def test_the_8bit_path_is_bit_for_bit_todays(tmp_path):
    files = golden_files(tmp_path)
    for key, expected in GOLDEN.items():
        name, size, scale16 = key.split("|")
        size = tuple(int(v) for v in size.strip("()").split(", "))
        for array in (decode_gray(files[name], size, scale16), decode(files[name], size, scale16)):
            digest = hashlib.sha256(array.tobytes() + str(array.shape).encode()).hexdigest()
            assert digest[:16] == expected, key


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_files_stay_whole_and_resize_at_their_depth(tmp_path, suffix):
    array = np.random.default_rng(1).integers(0, 65536, (40, 30)).astype(np.uint16)
    path = write_16bit(tmp_path / f"a{suffix}", array)
    whole = decode(path, None, dtype=np.uint16)
    assert whole.dtype == np.uint16 and np.array_equal(whole, array)
    small = decode(path, (16, 12), dtype=np.uint16)
    reference = Image.fromarray(array.astype(np.float32), "F").resize(
        (12, 16), Image.Resampling.BILINEAR, reducing_gap=3.0
    )
    assert np.array_equal(small, np.rint(np.asarray(reference)).astype(np.uint16))
    assert len(np.unique(small)) > 180  # 192 pixels, nearly all distinct: no trip through 8 bits
    flat = write_16bit(tmp_path / f"flat{suffix}", np.full((40, 30), 40001))
    assert set(decode(flat, (84, 112), dtype=np.uint16).ravel().tolist()) == {40001}


def test_resize_rounds_back_into_the_dtype():
    hu = np.array([[-1024, 3071], [-1024, 3071]], dtype=np.int16)
    out = resize_stored(hu, (5, 5))
    assert out.dtype == np.int16 and out.min() >= -1024 and out.max() <= 3071


def folder(root, depth16: dict[str, int], depth8: dict[str, int] | None = None, size=(20, 20)):
    """`root/<class>/*.png`: 16-bit images whose classes differ by a few levels, plus 8-bit."""
    rng = np.random.default_rng(5)
    for k, (name, n) in enumerate(depth16.items()):
        for i in range(n):
            write_16bit(root / name / f"{i}.png", 30000 + 3 * k + rng.integers(0, 3, size))
    for name, n in (depth8 or {}).items():
        for i in range(n):
            write_png8(root / name / f"eight{i}.png", rng.integers(0, 256, size))
    return root


def test_folder_at_16_bits_cache_and_files_agree(tmp_path):
    root = folder(tmp_path / "f", {"a": 6, "b": 6})
    modules = [
        FolderDataModule(root=str(root), image_size=16, bit_depth=16, cache=c, num_workers=0)
        for c in (True, False)
    ]
    for data in modules:
        data.setup()
    cached, files = modules
    assert cached.dtype == torch.uint16 and cached.train_set.images.dtype == torch.uint16
    for i in range(len(cached.train_set)):
        a, b = cached.train_set[i][0], files.train_set[i][0]
        assert a.dtype == b.dtype == torch.uint16 and torch.equal(a.int(), b.int())
    batch, _ = next(iter(cached.train_dataloader()))
    assert batch.dtype == torch.uint16 and batch.shape[1:] == (1, 16, 16)
    assert cached.value_range == files.value_range
    assert cached.value_range[0] >= 30000 and cached.value_range[1] <= 30005
    assert "full depth uint16 values" in cached.describe()
    eight = FolderDataModule(root=str(root), image_size=16, num_workers=0)
    eight.setup()
    assert eight.dtype == torch.uint8 and eight.value_range == (0.0, 255.0)


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_augmentation_at_16_bits_is_geometric_and_keeps_the_values(tmp_path, preset):
    root = folder(tmp_path / "f", {"a": 6, "b": 6})
    data = FolderDataModule(
        root=str(root), image_size=16, bit_depth=16, augment=preset, hflip=True, num_workers=0
    )
    data.setup()
    torch.manual_seed(0)
    image, _ = data.train_set[0]
    assert image.dtype == torch.uint16 and image.shape == (1, 16, 16)
    low, high = data.value_range
    values = image.int()
    assert low <= values.min() and values.max() <= high  # no jitter, gamma or noise; fill = min


def test_mixed_8_and_16_bit_folder(tmp_path):
    root = folder(tmp_path / "f", {"a": 6, "b": 6}, {"a": 2})
    with pytest.warns(UserWarning, match=r"2 of the 14 files .* widened to 16 bits") as seen:
        data = FolderDataModule(root=str(root), image_size=20, bit_depth=16, num_workers=0)
        data.setup()
    assert len([w for w in seen if "widened" in str(w.message)]) == 1
    eight = next(p for p in (root / "a").iterdir() if p.name.startswith("eight"))
    widened = decode(eight, (20, 20), dtype=np.uint16)
    assert np.array_equal(widened, np.asarray(Image.open(eight)).astype(np.uint16) * 257)
    auto = FolderDataModule(root=str(root), image_size=20, bit_depth="auto", num_workers=0)
    with pytest.warns(UserWarning, match="widened"):
        auto.setup()
    assert auto.dtype == torch.uint16
    only8 = FolderDataModule(root=str(tmp_path / "8"), bit_depth="auto", image_size=20)
    folder(tmp_path / "8", {}, {"a": 6, "b": 6})
    only8.setup()
    assert only8.dtype == torch.uint8  # auto keeps 8-bit data on today's path


def test_csv_module_at_16_bits(tmp_path):
    root = folder(tmp_path / "f", {"a": 6, "b": 6})
    table = tmp_path / "list.csv"
    with table.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label"])
        for path in sorted(root.rglob("*.png")):
            writer.writerow([path.relative_to(tmp_path), path.parent.name])
    data = CsvDataModule(csv=str(table), image_size=16, bit_depth="16", num_workers=0)
    data.setup()
    image, _ = data.train_set[0]
    assert image.dtype == torch.uint16 and int(image.int().min()) >= 30000


def test_float_tiff_with_nan_is_a_bad_file_naming_it(tmp_path):
    array = np.linspace(0, 1000, 64, dtype=np.float32).reshape(8, 8)
    array[3, 3] = np.nan
    path = tmp_path / "nan.tif"
    Image.fromarray(array, mode="F").save(path)
    for dtype in (None, np.uint16):
        with pytest.raises(ValueError, match="NaN"):
            decode(path, None, dtype=dtype)
    whole = tmp_path / "whole.tif"
    Image.fromarray(np.arange(64, dtype=np.float32).reshape(8, 8) * 100, mode="F").save(whole)
    assert decode_stored(whole, None, np.dtype(np.uint16)).max() == 6300  # whole numbers: exact
    half = tmp_path / "half.tif"
    Image.fromarray(np.full((8, 8), 0.5, np.float32), mode="F").save(half)
    with pytest.raises(ValueError, match="not whole numbers"):
        decode(half, None, dtype=np.uint16)
    root = tmp_path / "f"
    folder(root, {"a": 3, "b": 3})
    (root / "a" / "nan.tif").write_bytes(path.read_bytes())
    data = FolderDataModule(root=str(root), image_size=16, bit_depth=16, num_workers=0)
    with pytest.raises(UserError, match=r"1 bad file\(s\) .*nan.tif' cannot be read .*NaN") as err:
        data.setup()
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan], ids=["+inf", "-inf", "NaN"])
def test_float_tiff_with_a_non_finite_pixel_is_a_bad_file_at_every_depth(tmp_path, value):
    """One non-finite pixel once made the whole image black at 8 bits (its min..max was
    infinite); now it is a bad file, named by the scan at 8 and 16 bits, and skipped on request."""
    array = np.linspace(0, 1000, 64, dtype=np.float32).reshape(8, 8)
    array[3, 3] = value
    name = {np.inf: "+inf", -np.inf: "-inf"}.get(value, "NaN")
    path = tmp_path / "odd.tif"
    Image.fromarray(array, mode="F").save(path)
    for dtype in (None, np.uint16):
        with pytest.raises(ValueError, match=f"holds {re.escape(name)} .*values: fix the file"):
            decode(path, None, dtype=dtype)
    root = folder(tmp_path / "f", {"a": 6, "b": 6})
    (root / "a" / "odd.tif").write_bytes(path.read_bytes())
    for depth in (8, 16):
        data = FolderDataModule(root=str(root), image_size=16, bit_depth=depth, num_workers=0)
        with pytest.raises(UserError, match=rf"1 bad file\(s\) .*odd.tif' cannot be read .*"
                           rf"{re.escape(name)}") as err:  # fmt: skip
            data.setup()
        assert "\n" not in str(err.value)
        skip = FolderDataModule(
            root=str(root), image_size=16, bit_depth=depth, num_workers=0, on_bad_file="skip"
        )
        with pytest.warns(UserWarning, match="skipping 1 bad file"):
            skip.setup()
        assert [b.path.name for b in skip.bad_files] == ["odd.tif"]


def test_bad_bit_depth_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="data.bit_depth: 12 is not one of 8, 16, auto"):
        FolderDataModule(root=str(tmp_path), image_size=16, bit_depth=12)
