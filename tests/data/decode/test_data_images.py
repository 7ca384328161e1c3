"""Decoding real files: 8/16-bit PNG and TIFF, RGB JPEG, palette and RGBA PNG, EXIF rotation."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.datafiles import truncate, write_16bit, write_png8
from PIL import Image

from graytransfer.data.decode.gray import decode_gray, high_depth_to_uint8, read_gray
from graytransfer.errors import UserError


def test_8bit_png_values_are_kept_exactly(tmp_path):
    array = np.arange(24 * 20).reshape(24, 20) % 256
    path = write_png8(tmp_path / "a.png", array)
    image = read_gray(path, (24, 20))
    assert image.dtype.is_floating_point is False and tuple(image.shape) == (1, 24, 20)
    assert np.array_equal(image[0].numpy(), array)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_full_range_maps_0_65535_onto_0_255(tmp_path, suffix):
    array = np.array([[0, 257, 32768, 65535], [128, 129, 65278, 1000]], dtype=np.uint16)
    path = write_16bit(tmp_path / f"a{suffix}", array)
    assert Image.open(path).mode.startswith("I;16")
    gray = decode_gray(path, scale16="full")
    expected = np.rint(array / 65535 * 255).astype(np.uint8)
    assert np.array_equal(gray, expected)
    assert gray.tolist()[0] == [0, 1, 128, 255]


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_minmax_stretches_each_image(tmp_path, suffix):
    array = np.array([[1000, 2000], [3000, 1500]], dtype=np.uint16)  # a 12-bit detector's range
    path = write_16bit(tmp_path / f"a{suffix}", array)
    assert decode_gray(path, scale16="minmax").tolist() == [[0, 128], [255, 64]]
    # the full-range rule keeps such an image dark: 3000 / 65535 * 255 = 11.7
    assert decode_gray(path, scale16="full").max() == 12


def test_constant_16bit_image_minmax_is_zero():
    assert high_depth_to_uint8(np.full((3, 3), 777, np.uint16), "minmax").max() == 0


def test_rgb_jpeg_becomes_luminance(tmp_path):
    path = tmp_path / "a.jpg"
    Image.new("RGB", (32, 32), (200, 100, 50)).save(path, quality=95)
    gray = decode_gray(path)
    assert gray.shape == (32, 32)
    assert abs(int(gray.mean().round()) - round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)) <= 2


def test_large_jpeg_is_decoded_reduced_and_resized(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (640, 480), (0, 0, 255)).save(path)
    assert read_gray(path, (30, 40)).shape == (1, 30, 40)
    assert abs(int(read_gray(path, (30, 40)).float().mean()) - 29) <= 2  # 0.114 * 255


def test_palette_and_rgba_png_become_luminance(tmp_path):
    palette = Image.new("P", (4, 4), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * (254 * 3))
    palette.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert set(decode_gray(tmp_path / "p.png").ravel().tolist()) == {150}  # 0.587 * 255
    Image.new("RGBA", (4, 4), (255, 0, 0, 10)).save(tmp_path / "rgba.png")
    assert set(decode_gray(tmp_path / "rgba.png").ravel().tolist()) == {76}  # 0.299 * 255


def test_exif_orientation_is_honoured(tmp_path):
    array = np.zeros((8, 16), np.uint8)
    array[0, :] = 255  # a white top row
    img = Image.fromarray(array)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "r.png", exif=exif)
    gray = decode_gray(tmp_path / "r.png")
    assert gray.shape == (16, 8)
    assert gray[:, -1].min() == 255 and gray[:, 0].max() == 0  # the top row became the right side


def test_non_square_resize(tmp_path):
    path = write_png8(tmp_path / "a.png", np.full((40, 30), 90))
    image = read_gray(path, (84, 112))
    assert tuple(image.shape) == (1, 84, 112) and set(image.unique().tolist()) == {90}


def test_truncated_png_raises(tmp_path):
    path = truncate(
        write_png8(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64)))
    )
    with pytest.raises(OSError):
        decode_gray(path)


def test_bad_scale16_is_a_user_error(tmp_path):
    from graytransfer.data import FolderDataModule

    with pytest.raises(UserError, match="data.scale16"):
        FolderDataModule(root=str(tmp_path), image_size=16, scale16="log")
