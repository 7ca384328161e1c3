"""DICOM files written with pydicom, and pydicom's own CT and MR: rescale slope/intercept,
window, MONOCHROME1; at full depth HU exactly as pydicom's `apply_modality_lut`; bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pydicom = pytest.importorskip(
    "pydicom", reason="the dicom extra: pip install 'graytransfer[dicom]'"
)

import torch  # noqa: E402
from helpers.datafiles import write_dicom, write_png8  # noqa: E402

from graytransfer.data import FolderDataModule  # noqa: E402
from graytransfer.data.decode.dicom import read_dicom, window_to_uint8  # noqa: E402
from graytransfer.data.decode.gray import decode, decode_gray  # noqa: E402
from graytransfer.errors import UserError  # noqa: E402


def test_ct_rescale_and_file_window(tmp_path):
    # stored 0..2000, intercept -1024: -1024 (air) .. 976 HU; window [-600, 700]: -950..-250 HU
    stored = np.array([[0, 424, 1024], [1774, 2000, 524]], dtype=np.uint16)
    path = write_dicom(tmp_path / "ct.dcm", stored, intercept=-1024, window=(-600, 700))
    gray = read_dicom(path)
    hu = stored.astype(float) - 1024
    assert np.array_equal(gray, window_to_uint8(hu, -600, 700))
    assert gray[0, 0] == 0 and gray[1, 1] == 255  # below / above the window
    assert abs(int(gray[0, 1]) - 128) <= 1  # -600 HU, the window's centre


def test_configured_window_and_slope(tmp_path):
    stored = np.array([[0, 50], [100, 200]], dtype=np.uint16)
    path = write_dicom(tmp_path / "a.dcm", stored, slope=2.0, window=(1000, 10))
    assert read_dicom(path, window=[200, 401]).tolist() == [[0, 64], [128, 255]]


def test_no_window_uses_min_max_and_monochrome1_inverts(tmp_path):
    stored = np.array([[100, 200], [300, 300]], dtype=np.uint16)
    plain = read_dicom(write_dicom(tmp_path / "m2.dcm", stored))
    assert plain.tolist() == [[0, 128], [255, 255]]
    inverted = read_dicom(write_dicom(tmp_path / "m1.dcm", stored, photometric="MONOCHROME1"))
    assert inverted.tolist() == [[255, 127], [0, 0]]


def test_dicom_goes_through_the_common_decoder(tmp_path):
    path = write_dicom(tmp_path / "a.dcm", np.arange(64).reshape(8, 8))
    assert decode_gray(path, (16, 16)).shape == (16, 16)


# --------------------------------------------------------------------------- full depth
def test_modality_values_match_pydicom_exactly_on_its_own_ct_and_mr():
    from pydicom.data import get_testdata_file
    from pydicom.pixels import apply_modality_lut

    from graytransfer.data.decode.dicom import read_modality

    for name, dtype in (("CT_small.dcm", np.int16), ("MR_small.dcm", np.int16)):
        path = get_testdata_file(name)
        ds = pydicom.dcmread(path)
        expected = apply_modality_lut(ds.pixel_array, ds)
        values = read_modality(path)
        assert values.dtype == dtype and np.array_equal(values, expected), name
    ct = read_modality(get_testdata_file("CT_small.dcm"))
    assert (ct.min(), ct.max()) == (-896, 1167)  # HU, intercept -1024 applied


def modality_lut(ds, pixels):
    """pydicom's own modality LUT (`pydicom.pixels` from 3.0, its `pixel_data_handlers` before)."""
    try:
        from pydicom.pixels import apply_modality_lut
    except ImportError:  # pydicom < 3
        from pydicom.pixel_data_handlers.util import apply_modality_lut
    return apply_modality_lut(pixels, ds)


@pytest.mark.parametrize(
    ("slope", "intercept"), [(2.0, -1024.0), (0.5, -100.25), (3.0, 7.5)], ids=str
)
def test_rescale_with_slope_and_intercept_matches_pydicom_in_both_readers(
    tmp_path, slope, intercept
):
    """Slope != 1 AND intercept != 0 (either alone cannot tell `v * s + i` from `(v + i) * s`):
    the full-depth values are pydicom's `apply_modality_lut` exactly, and the 8-bit reader
    windows those very values (file window, and min..max without one)."""
    stored = np.arange(0, 4000, 63, dtype=np.uint16)[:60].reshape(6, 10)
    from graytransfer.data.decode.dicom import read_modality

    middle = float(np.median(stored)) * slope + intercept  # a window on the middle half
    for window in ((middle, float(np.ptp(stored)) * slope / 2), None):
        path = write_dicom(tmp_path / f"{window}.dcm", stored, slope, intercept, window)
        ds = pydicom.dcmread(path)
        expected = modality_lut(ds, ds.pixel_array)
        values = read_modality(path)
        assert np.array_equal(values, expected)
        low, high = float(expected.min()), float(expected.max())
        center, width = window or ((low + high + 1.0) / 2.0, high - low + 1.0)
        assert np.array_equal(read_dicom(path), window_to_uint8(expected, center, width))
        assert len(np.unique(read_dicom(path))) > 20  # not clipped to a few levels


def test_full_depth_decode_is_int16_hu_resized_at_that_depth(tmp_path):
    from pydicom.data import get_testdata_file

    path = get_testdata_file("CT_small.dcm")
    whole = decode(path, None, dtype=np.int16)
    assert whole.dtype == np.int16 and whole.shape == (128, 128) and whole.min() == -896
    small = decode(path, (32, 32), dtype=np.int16)
    assert small.dtype == np.int16 and len(np.unique(small)) > 400  # 8 bits would keep <= 256
    from PIL import Image

    reference = Image.fromarray(whole.astype(np.float32), "F").resize(
        (32, 32), Image.Resampling.BILINEAR, reducing_gap=3.0
    )
    assert np.array_equal(small, np.rint(np.asarray(reference)).astype(np.int16))


def test_monochrome1_is_inverted_on_the_stored_values(tmp_path):
    from graytransfer.data.decode.dicom import read_modality

    stored = np.array([[0, 100], [4000, 65535]], dtype=np.uint16)
    path = write_dicom(tmp_path / "m1.dcm", stored, intercept=-10, photometric="MONOCHROME1")
    assert read_modality(path).tolist() == [[65525, 65425], [61525, -10]]  # 65535 - v - 10


def test_dicom_without_pixel_data_and_undecodable_syntax_are_bad_files(tmp_path):
    import os

    from pydicom.data import get_testdata_file

    no_pixels = get_testdata_file("rtplan.dcm")
    with pytest.raises(ValueError, match="holds no pixel data .*remove it"):
        read_dicom(no_pixels)
    jpeg_ls = os.path.join(os.path.dirname(get_testdata_file("MR_small.dcm")),
                           "MR_small_jpeg_ls_lossless.dcm")  # fmt: skip
    with pytest.raises(ValueError, match="transfer syntax 'JPEG-LS Lossless.*no installed decoder"):
        decode(jpeg_ls, None, dtype=np.int16)
    root = tmp_path / "f"
    for label in ("a", "b"):
        for i in range(5):
            write_dicom(root / label / f"{i}.dcm", np.full((8, 8), 1000 + i), intercept=-1024)
    (root / "a" / "plan.dcm").write_bytes(Path(no_pixels).read_bytes())
    data = FolderDataModule(root=str(root), image_size=8, bit_depth=16, num_workers=0)
    with pytest.raises(UserError, match=r"1 bad file\(s\).*plan.dcm' cannot be read \(ValueError: "
                       "holds no pixel data") as err:  # fmt: skip
        data.setup()
    assert "\n" not in str(err.value)


def test_window_width_not_positive_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match=r"data.dicom_window: width 0 must be > 0"):
        FolderDataModule(root=str(tmp_path), image_size=8, dicom_window=[40, 0])


def test_dicom_folder_at_16_bits_hands_out_int16_hu(tmp_path):
    root = tmp_path / "f"
    for label, base in (("a", 1000), ("b", 1003)):
        for i in range(5):
            write_dicom(root / label / f"{i}.dcm", np.full((12, 12), base + i), intercept=-1024,
                        window=(40, 400))  # fmt: skip
    data = FolderDataModule(
        root=str(root), image_size=8, bit_depth=16, num_workers=0, test_split=0.25
    )
    data.setup()
    batch, _ = next(iter(data.train_dataloader()))
    assert batch.dtype == torch.int16 and data.dtype == torch.int16
    assert data.value_range == (-24.0, -17.0) and data.voi_window == (40.0, 400.0)
    write_png8(root / "a" / "x.png", np.zeros((8, 8)))
    mixed = FolderDataModule(root=str(root), image_size=8, bit_depth=16, num_workers=0)
    with pytest.raises(UserError, match="mixes DICOM files .* and other images"):
        mixed.setup()
