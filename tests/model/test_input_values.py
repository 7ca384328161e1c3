"""The data -> model contract: `input_values_of` reads the typed `pixel_values` every data module
has (dtype, measured value range, DICOM window) and nothing else, so a module that is not a
`GrayscaleDataModule` fails loudly instead of falling back to 8 bits."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
from helpers.datafiles import class_folders, write_16bit
from helpers.shard_helpers import write_full_depth_folder

from graytransfer.adapt.intensity import InputValues
from graytransfer.data import DigitsDataModule, FolderDataModule, PixelValues
from graytransfer.model.build import input_values_of

SMALL = {"image_size": 16, "batch_size": 4, "num_workers": 0, "val_split": 0.25, "test_split": 0.25}


def test_a_data_module_without_pixel_values_fails_loudly():
    class Duck(L.LightningDataModule):  # has the old attributes, not the contract
        dtype = torch.uint16
        value_range = (0.0, 4095.0)
        voi_window = None

    with pytest.raises(TypeError, match="not a GrayscaleDataModule.*pixel_values"):
        input_values_of(Duck())


def test_pixel_values_refuse_a_dtype_no_batch_holds_and_an_upside_down_range():
    with pytest.raises(TypeError, match="float32"):
        PixelValues(torch.float32)
    with pytest.raises(ValueError, match="min is above max"):
        PixelValues(torch.uint16, (10, 2))


def test_digits_hand_the_model_8_bit_values():
    data = DigitsDataModule(image_size=16, num_workers=0)
    data.setup()
    assert data.pixel_values == PixelValues(torch.uint8, (0.0, 255.0), None)
    assert input_values_of(data) == InputValues("uint8", (0.0, 255.0), None)


def test_an_8_bit_folder_hands_the_model_8_bit_values(tmp_path: Path):
    data = FolderDataModule(str(class_folders(tmp_path, {"a": 4, "b": 4})), **SMALL)
    data.setup()
    assert input_values_of(data) == InputValues("uint8", (0.0, 255.0), None)


def test_a_16_bit_folder_hands_the_model_its_measured_range(tmp_path: Path):
    for k, name in enumerate(("a", "b")):
        for i in range(4):
            write_16bit(tmp_path / name / f"{i}.png", np.full((20, 20), 1000 + 100 * k + i))
    data = FolderDataModule(str(tmp_path), bit_depth=16, **SMALL)
    data.setup()
    assert input_values_of(data) == InputValues("uint16", (1000.0, 1103.0), None)


def test_shards_hand_the_model_what_their_source_measured(tmp_path: Path):
    pytest.importorskip("litdata", reason="the shards extra: pip install 'graytransfer[shards]'")
    pytest.importorskip("pydicom", reason="the dicom extra: pip install 'graytransfer[dicom]'")
    from graytransfer.data import ShardDataModule
    from graytransfer.data.store.shard_writer import convert

    folder = write_full_depth_folder(tmp_path / "dicom", "dicom", count=8, size=16)
    source = FolderDataModule(str(folder), bit_depth=16, **SMALL)
    source.setup()
    convert(source, tmp_path / "shards", {"test": True}, workers=1, verbose=False)
    shards = ShardDataModule(str(tmp_path / "shards"), num_workers=0, batch_size=4)
    shards.setup()
    assert shards.pixel_values == source.pixel_values
    values = input_values_of(shards)
    assert values.dtype == "int16" and values.voi_window == (40.0, 400.0)
    assert values.value_range == source.pixel_values.value_range
