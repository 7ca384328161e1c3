"""FolderDataModule on real files: splits, bad files (error and skip), caching, augmentation,
class balance and the split record."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datafiles import class_folders, noise, truncate, write_16bit, write_png8
from helpers.datamodules import folder_module
from PIL import Image

from graytransfer.errors import UserError
from graytransfer.run import RunFolder


def test_stratified_split_sizes_and_uint8_batches(tmp_path):
    data = folder_module(class_folders(tmp_path, {"a": 20, "b": 10}), val_split=0.2, test_split=0.1)
    assert data.class_names == ["a", "b"]
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [21, 6, 3]
    assert torch.bincount(data.val_set.labels).tolist() == [4, 2]
    images, labels = next(iter(data.train_dataloader()))
    assert images.dtype == torch.uint8 and tuple(images.shape) == (8, 1, 16, 16)
    assert labels.dtype == torch.int64
    again = folder_module(tmp_path, val_split=0.2, test_split=0.1)
    assert again.val_set.ids == data.val_set.ids  # the seed fixes the split


def test_explicit_split_folders(tmp_path):
    class_folders(tmp_path / "train", {"x": 6, "y": 6})
    class_folders(tmp_path / "val", {"x": 2, "y": 1})
    data = folder_module(tmp_path, test_split=0.25)
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [9, 3, 3]
    assert all(Path(p).parent.parent.name == "val" for p in data.val_set.ids)


def test_mixed_formats_in_one_folder(tmp_path):
    write_png8(tmp_path / "a" / "8bit.png", np.full((20, 20), 64))
    write_16bit(tmp_path / "a" / "16bit.png", np.full((20, 20), 65535))
    write_16bit(tmp_path / "b" / "16bit.tif", np.full((20, 20), 32768))
    write_png8(tmp_path / "b" / "8bit.bmp", np.full((20, 20), 7))
    data = folder_module(tmp_path, val_split=0.0, test_split=0.0)
    values = {Path(p).name + Path(p).parent.name: int(data.train_set[i][0].float().mean())
              for i, p in enumerate(data.train_set.ids)}  # fmt: skip
    assert values == {"8bit.pnga": 64, "16bit.pnga": 255, "16bit.tifb": 128, "8bit.bmpb": 7}


def test_bad_files_stop_the_run_naming_every_one(tmp_path):
    class_folders(tmp_path, {"a": 6, "b": 6})
    truncate(tmp_path / "a" / "001.png")
    (tmp_path / "b" / "zero.png").write_bytes(b"")
    (tmp_path / "b" / "text.jpg").write_text("not a jpeg")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as err:
        folder_module(tmp_path)
    message = str(err.value)
    assert message.startswith("4 bad file(s)") and "\n" not in message
    for name in ("001.png' cannot be read", "zero.png", "text.jpg", "empty' holds no images"):
        assert name in message
    assert "data.on_bad_file=skip" in message


def test_quick_scan_finds_truncated_png_and_jpeg(tmp_path):
    class_folders(tmp_path, {"a": 4, "b": 4})
    truncate(tmp_path / "a" / "001.png", keep=0.8)
    jpeg = tmp_path / "b" / "photo.jpg"
    Image.fromarray(noise(5, (64, 64)).astype(np.uint8)).save(jpeg)
    truncate(jpeg, keep=0.7)
    with pytest.raises(UserError, match=r"2 bad file\(s\).*001.png.*photo.jpg"):
        folder_module(tmp_path, scan="quick", cache=False)
    with pytest.raises(UserError, match="data.scan"):
        folder_module(tmp_path, scan="sometimes")
    unchecked = folder_module(tmp_path, scan="none", cache=False, val_split=0.0, test_split=0.0)
    assert len(unchecked.train_set) == 9  # trusted: the bad files would fail mid-epoch


def test_skip_warns_once_with_the_count_and_records_them(tmp_path):
    class_folders(tmp_path, {"a": 6, "b": 6})
    truncate(tmp_path / "a" / "001.png")
    truncate(tmp_path / "b" / "002.png", keep=0.9)
    (tmp_path / "empty").mkdir()
    with pytest.warns(UserWarning, match=r"skipping 3 bad file\(s\)") as record:
        data = folder_module(tmp_path, on_bad_file="skip", val_split=0.0, test_split=0.0)
    assert len([w for w in record if "bad file" in str(w.message)]) == 1
    assert data.class_names == ["a", "b"]  # the empty class folder is dropped, not a class
    assert len(data.train_set) == 10
    RunFolder(tmp_path / "run").write_split(*data.split_record())
    assert len((tmp_path / "run" / "bad_files.txt").read_text().splitlines()) == 3


def test_non_image_files_are_counted_not_silent(tmp_path):
    class_folders(tmp_path, {"a": 3, "b": 3})
    (tmp_path / "a" / "notes.txt").write_text("x")
    with pytest.warns(UserWarning, match="ignored 1 file"):
        folder_module(tmp_path, val_split=0.0, test_split=0.0)


def test_missing_root_and_no_classes(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        folder_module(tmp_path / "nope")
    with pytest.raises(UserError, match="no class folders"):
        folder_module(tmp_path)


def test_cache_auto_keeps_small_sets_in_memory(tmp_path):
    data = folder_module(class_folders(tmp_path, {"a": 3, "b": 3}), val_split=0.0, test_split=0.0)
    assert data.cache and data.train_set.images.dtype == torch.uint8
    with pytest.raises(UserError, match="data.cache"):
        folder_module(tmp_path, cache="sometimes")


def test_cache_gives_the_same_images_as_files(tmp_path):
    class_folders(tmp_path, {"a": 5, "b": 5}, size=(30, 17))
    files = folder_module(tmp_path, image_size=[12, 20], val_split=0.2, test_split=0.0, cache=False)
    assert not files.cache and hasattr(files.train_set, "paths")
    cached = folder_module(tmp_path, image_size=[12, 20], val_split=0.2, test_split=0.0, cache=True)
    assert cached.train_set.ids == files.train_set.ids
    for i in range(len(files.train_set)):
        assert torch.equal(cached.train_set[i][0], files.train_set[i][0])
    assert tuple(cached.train_set.images.shape) == (8, 1, 12, 20)


@pytest.mark.parametrize("preset", ["light", "strong"])
def test_augment_keeps_uint8_single_channel_and_size(tmp_path, preset):
    class_folders(tmp_path, {"a": 4, "b": 4})
    data = folder_module(tmp_path, image_size=[16, 24], augment=preset, hflip=True, val_split=0.0,
                test_split=0.0)  # fmt: skip
    torch.manual_seed(0)
    image, _ = data.train_set[0]
    assert image.dtype == torch.uint8 and tuple(image.shape) == (1, 16, 24)
    plain = folder_module(tmp_path, image_size=[16, 24], val_split=0.0, test_split=0.0)
    assert not torch.equal(image, plain.train_set[0][0])  # it did change the image
    with pytest.raises(UserError, match="data.augment"):
        folder_module(tmp_path, augment="colour")


def test_balance_loss_weights_and_sampler(tmp_path):
    class_folders(tmp_path, {"a": 12, "b": 4})
    data = folder_module(tmp_path, balance="loss", val_split=0.0, test_split=0.0)
    assert data.loss_class_weights() == pytest.approx([16 / 24, 16 / 8])
    assert folder_module(tmp_path, val_split=0.0, test_split=0.0).loss_class_weights() is None
    sampled = folder_module(
        tmp_path, balance="sampler", val_split=0.0, test_split=0.0, batch_size=16
    )
    labels = torch.cat([y for _ in range(30) for _, y in sampled.train_dataloader()])
    assert abs(labels.float().mean().item() - 0.5) < 0.05  # classes drawn equally often


def test_the_split_record_holds_classes_and_every_image(tmp_path):
    data = folder_module(
        class_folders(tmp_path / "d", {"cat": 5, "dog": 5}), val_split=0.2, test_split=0.2
    )
    RunFolder(tmp_path / "run").write_split(*data.split_record())
    record = json.loads((tmp_path / "run" / "classes.json").read_text())
    assert record["classes"] == ["cat", "dog"]
    assert record["counts"] == {"train": [3, 3], "val": [1, 1], "test": [1, 1]}
    with open(tmp_path / "run" / "split.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10 and {r["split"] for r in rows} == {"train", "val", "test"}
    assert all(r["class"] == ["cat", "dog"][int(r["label"])] for r in rows)
    assert all(r["id"].endswith(".png") for r in rows)


def test_workers_load_the_same_batches(tmp_path):
    class_folders(tmp_path, {"a": 6, "b": 6})
    serial = folder_module(tmp_path, val_split=0.0, test_split=0.5)
    parallel = folder_module(tmp_path, val_split=0.0, test_split=0.5, num_workers=2, cache=False)
    loader = parallel.test_dataloader()
    assert loader.persistent_workers and loader.num_workers == 2
    assert torch.equal(next(iter(loader))[0], next(iter(serial.test_dataloader()))[0])


def test_noise_helper_is_deterministic():
    assert np.array_equal(noise(3), noise(3))
