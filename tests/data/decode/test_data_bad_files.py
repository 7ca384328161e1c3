"""Bad files on real folders: found mid-epoch (one line naming the file, or skipped and counted),
the full scan's proof that JPEG pixels decode, hidden folders, dangling symlinks, classes that
lose every image, single-image classes and splits too small for the classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import compose_config
from helpers.datafiles import (
    class_folders,
    noise,
    truncate,
    truncate_keep_end_marker,
    write_jpeg,
    write_png8,
)
from helpers.datamodules import folder_module

from graytransfer.config import check_missing
from graytransfer.data import CsvDataModule, FolderDataModule
from graytransfer.data.split.by_class import stratified_split
from graytransfer.errors import UserError

#: files are read by the loaders, never checked before (the case the scan cannot cover)
UNCHECKED = {"scan": "none", "cache": False, "val_split": 0.0, "test_split": 0.0}


def every_batch(data: FolderDataModule) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return list(data.test_dataloader()) if len(data.test_set) else list(data.train_dataloader())


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_mid_epoch_is_one_line_naming_it(tmp_path, workers):
    class_folders(tmp_path, {"a": 4, "b": 4})
    broken = truncate(tmp_path / "b" / "002.png")
    data = folder_module(tmp_path, batch_size=4, num_workers=workers, **UNCHECKED)
    with pytest.raises(UserError) as err:
        every_batch(data)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"image '{broken}' cannot be read")
    assert "data.on_bad_file=skip" in message


@pytest.mark.parametrize("workers", [0, 1])
def test_skip_replaces_a_corrupt_image_counts_and_names_it(tmp_path, workers):
    class_folders(tmp_path, {"a": 4, "b": 4})
    broken = truncate(tmp_path / "b" / "001.png")
    options = {**UNCHECKED, "test_split": 0.5}  # test: an unshuffled loader, fixed order
    data = folder_module(tmp_path, batch_size=4, num_workers=workers, on_bad_file="skip", **options)
    batches = every_batch(data)
    assert [len(y) for _, y in batches] == [4]  # the batch keeps its size
    assert data.runtime_bad_files() == [broken]  # seen by the main process, also from a worker
    assert "1 bad file(s) skipped" in data.describe()
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable file.*'{broken}'"):
        data.on_after_batch_transfer(batches[0], 0)
    index = [str(p) for p in data.test_set.paths].index(str(broken))
    after = (index + 1) % len(data.test_set)
    image, label = data.test_set[index]  # the same item every time: the next readable one
    assert torch.equal(image, data.test_set[after][0]) and label == data.test_set.labels[after]


@pytest.mark.slow
def test_skip_in_a_real_run_warns_naming_the_file_and_counts_it(tmp_path):
    class_folders(tmp_path / "images", {"a": 4, "b": 4})
    broken = truncate(tmp_path / "images" / "a" / "003.png")
    from graytransfer.run import train

    cfg = compose_config(
        [
            "data=folder",
            f"data.root={tmp_path / 'images'}",
            "data.image_size=32",
            "data.batch_size=8",
            "data.num_workers=1",
            "data.scan=none",
            "data.cache=false",
            "data.on_bad_file=skip",
            "data.val_split=0",
            "data.test_split=0",
            "model=timm",
            "model.name=test_efficientnet",
            "model.pretrained=false",
            "logger=none",
            "trainer.fast_dev_run=1",
            "trainer.enable_progress_bar=false",
            "~callbacks.rich_progress_bar",
        ],
        tmp_path / "run",
    )
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable file.*'{broken}'"):
        info = train(cfg)
    assert "1 bad file(s) skipped" in info["data"]


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"optimize": True}, {"quality": 95}],
    ids=["baseline", "progressive", "optimized", "q95"],
)
def test_full_scan_proves_jpeg_pixels_decode(tmp_path, options):
    class_folders(tmp_path, {"a": 3, "b": 3})
    rng = np.random.default_rng(0)
    write_jpeg(tmp_path / "a" / "gray.jpg", noise(1, (64, 48)), **options)
    write_jpeg(tmp_path / "b" / "colour.jpg", rng.integers(0, 256, (40, 56, 3)), **options)
    write_jpeg(tmp_path / "b" / "flat.jpg", np.full((32, 32), 128), **options)
    assert (
        len(folder_module(tmp_path, batch_size=4, val_split=0.0, test_split=0.0).train_set) == 9
    )  # none flagged
    truncate_keep_end_marker(tmp_path / "a" / "gray.jpg")
    with pytest.raises(UserError, match=r"^1 bad file\(s\) .*gray\.jpg' .*image data ends early"):
        folder_module(tmp_path, batch_size=4)
    quick = folder_module(
        tmp_path, batch_size=4, scan="quick", cache=False, val_split=0.0, test_split=0.0
    )
    assert len(quick.train_set) == 9  # the structure checks cannot see it: the full scan must


def test_hidden_files_and_folders_are_ignored_at_every_depth(tmp_path):
    class_folders(tmp_path, {"a": 3, "b": 3})
    for hidden in (
        tmp_path / "a" / ".ipynb_checkpoints" / "000-checkpoint.png",
        tmp_path / "b" / "scans" / ".cache" / "x.png",
        tmp_path / "b" / "._000.png",
    ):
        hidden.parent.mkdir(parents=True, exist_ok=True)
        hidden.write_bytes(b"not an image")
    write_png8(tmp_path / "b" / "scans" / "visible.png", noise(9))
    data = folder_module(tmp_path, batch_size=4, val_split=0.0, test_split=0.0)
    names = sorted("/".join(Path(p).parts[-2:]) for p in data.train_set.ids)
    assert names == [
        "a/000.png", "a/001.png", "a/002.png",
        "b/000.png", "b/001.png", "b/002.png", "scans/visible.png",
    ]  # fmt: skip


def test_dangling_symlink_is_a_bad_file(tmp_path):
    class_folders(tmp_path, {"a": 3, "b": 3})
    link = tmp_path / "a" / "moved.png"
    link.symlink_to(tmp_path / "elsewhere" / "moved.png")
    with pytest.raises(UserError, match=r"^1 bad file\(s\) .*moved\.png' is a dangling symlink"):
        folder_module(tmp_path, batch_size=4)
    with pytest.warns(UserWarning, match=r"skipping 1 bad file.*moved\.png"):
        data = folder_module(
            tmp_path, batch_size=4, on_bad_file="skip", val_split=0.0, test_split=0.0
        )
    assert len(data.train_set) == 6


def test_skip_never_drops_a_class_silently(tmp_path):
    class_folders(tmp_path, {"a": 4, "b": 2, "c": 4})
    for name in ("000.png", "001.png"):
        truncate(tmp_path / "b" / name)
    with pytest.warns(UserWarning, match="skipping 2 bad file"), pytest.raises(UserError) as err:
        folder_module(tmp_path, batch_size=4, on_bad_file="skip")
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("class 'b' has no readable training image left: all 2 of its")


def test_a_class_with_no_training_rows_is_named(tmp_path):
    rows = []
    for i in range(8):
        write_png8(tmp_path / f"{i}.png", noise(i))
        rows.append(f"{i}.png,{'rare' if i == 7 else 'common' if i % 2 else 'other'},"
                    f"{'val' if i == 7 else ''}\n")  # fmt: skip
    (tmp_path / "a.csv").write_text("path,label,split\n" + "".join(rows))
    data = CsvDataModule(csv=str(tmp_path / "a.csv"), image_size=16, num_workers=0)
    with pytest.raises(UserError, match="^class 'rare' has 1 val/test image"):
        data.setup("fit")


def test_single_image_class_warns_and_the_others_stay_stratified(tmp_path):
    class_folders(tmp_path, {"a": 10, "b": 10, "lonely": 1})
    with pytest.warns(UserWarning, match=r"1 class\(es\) have a single image.*'lonely'"):
        data = folder_module(tmp_path, batch_size=4, val_split=0.2, test_split=0.2)
    assert torch.bincount(data.val_set.labels, minlength=3).tolist() == [2, 2, 0]
    assert torch.bincount(data.test_set.labels, minlength=3).tolist() == [2, 2, 0]
    assert torch.bincount(data.train_set.labels, minlength=3).tolist() == [6, 6, 1]


def test_too_many_classes_for_the_split_gets_the_right_advice():
    labels = np.repeat(np.arange(500), 2)  # 500 classes x 2 images
    with pytest.raises(UserError) as err:
        stratified_split(labels, 0.2, 0.1, seed=0)
    message = str(err.value)
    assert message.startswith("data.test_split=0.1 gives 100 image(s) for 500 classes")
    assert "raise data.test_split to at least 0.50" in message and "smaller" not in message
    with pytest.raises(UserError, match=r"data.val_split=0.2 gives 200 .*at least 0.50"):
        stratified_split(labels, 0.2, 0.0, seed=0)
    train, val, _ = stratified_split(labels, 0.5, 0.0, seed=0)
    assert sorted(labels[val].tolist()) == list(range(500))  # one of each class


def test_folder_without_root_is_named_before_any_work(tmp_path):
    cfg = compose_config(["data=folder"], tmp_path)
    with pytest.raises(UserError, match=r"^data.root is required: pass data.root=DIR"):
        check_missing(cfg.data, "data.")
    check_missing(compose_config(["data=digits"], tmp_path).data, "data.")  # nothing missing
