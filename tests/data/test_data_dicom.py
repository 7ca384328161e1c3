"""DICOM files written with pydicom: rescale slope/intercept, window, MONOCHROME1."""

from __future__ import annotations

import numpy as np
import pytest

pydicom = pytest.importorskip(
    "pydicom", reason="the dicom extra: pip install 'graytransfer[dicom]'"
)

from pydicom.dataset import FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid  # noqa: E402

from graytransfer.data.dicom import read_dicom, window_to_uint8  # noqa: E402
from graytransfer.data.images import decode_gray  # noqa: E402


def write_dicom(path, stored: np.ndarray, slope=1.0, intercept=0.0, window=None,
                photometric="MONOCHROME2"):  # fmt: skip
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
    ds.save_as(path, enforce_file_format=True)
    return path


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
