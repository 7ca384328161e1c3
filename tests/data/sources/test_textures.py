"""data=textures: scikit-image's bundled photos (read from its wheel, offline) cut into patches
from disjoint bands per split; the study's third data set."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import FAST, compose_config
from hydra.utils import instantiate
from skimage.color import rgb2gray
from skimage.data import astronaut

from graytransfer.data import TexturesDataModule
from graytransfer.data.sources.textures import load_gray, split_bands
from graytransfer.errors import UserError
from graytransfer.run import train

#: three photos of different sizes (text is 172x448, coins 303x384, brick 512x512)
SMALL = {
    "images": ["brick", "coins", "text"],
    "train_per_class": 30,
    "val_per_class": 10,
    "test_per_class": 20,
}


def parse(item: str) -> tuple[str, int, int]:
    """`brick@y12x300` -> ("brick", 12, 300): a patch id, its photo and top-left corner."""
    match = re.fullmatch(r"(\w+)@y(\d+)x(\d+)", item)
    assert match, item
    return match[1], int(match[2]), int(match[3])


def columns(ids: list[str], patch: int) -> dict[str, set[int]]:
    """photo -> every pixel column a set's patches cover, read back from the patch ids."""
    covered: dict[str, set[int]] = {}
    for item in ids:
        name, y, x = parse(item)
        covered.setdefault(name, set()).update(range(x, x + patch))
    return covered


@pytest.mark.parametrize("patch", [32, 48])
def test_splits_cut_from_disjoint_columns_of_each_photo(patch):
    data = TexturesDataModule(**SMALL, patch_size=patch, image_size=32, seed=1)
    data.setup()
    sets = {"train": data.train_set, "val": data.val_set, "test": data.test_set}
    covered = {split: columns(s.ids, patch) for split, s in sets.items()}
    for name in SMALL["images"]:
        width = load_gray(name).shape[1]
        bands = split_bands(width, 0.2, 0.2)
        for split, band in bands.items():
            cols = covered[split][name]
            assert band[0] <= min(cols) and max(cols) < band[1], (name, split)
        train, val, test = (covered[split][name] for split in ("train", "val", "test"))
        assert train.isdisjoint(val) and train.isdisjoint(test) and val.isdisjoint(test)


def test_patches_are_the_photo_pixels_with_shapes_dtypes_labels():
    data = TexturesDataModule(**SMALL, patch_size=32, image_size=32, seed=0)
    data.setup()
    assert data.class_names == SMALL["images"]
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [90, 30, 60]
    image, label = data.test_set[25]
    assert image.dtype == torch.uint8 and tuple(image.shape) == (1, 32, 32)
    name, y, x = parse(data.test_set.ids[25])
    assert data.class_names[int(label)] == name == "coins"
    assert np.array_equal(image[0].numpy(), load_gray(name)[y : y + 32, x : x + 32])
    assert torch.bincount(data.train_set.labels).tolist() == [30, 30, 30]
    batch, labels = next(iter(data.train_dataloader()))
    assert batch.dtype == torch.uint8 and batch.shape[1:] == (1, 32, 32)
    assert labels.dtype == torch.int64


def test_colour_photos_become_luminance():
    gray = load_gray("astronaut")
    assert gray.dtype == np.uint8 and gray.shape == (512, 512)
    assert np.array_equal(gray, np.round(rgb2gray(astronaut()) * 255).astype(np.uint8))


def test_seed_moves_the_patches_not_the_bands():
    def ids(seed: int) -> list[str]:
        data = TexturesDataModule(**SMALL, seed=seed)
        data.setup()
        return data.train_set.ids + data.test_set.ids

    assert ids(3) == ids(3)
    assert ids(3) != ids(4)


def test_photos_outside_the_wheel_and_oversized_patches_are_user_errors():
    with pytest.raises(UserError, match="data.images: 'cells3d' is not a photo bundled"):
        TexturesDataModule(images=["brick", "cells3d"]).setup()
    with pytest.raises(UserError, match="data.patch_size: 100 does not fit photo 'text'"):
        TexturesDataModule(images=["brick", "text"], patch_size=100).setup()
    with pytest.raises(UserError, match="data.val_per_class"):
        TexturesDataModule(val_per_class=0)
    with pytest.raises(UserError, match="data.test_split"):
        TexturesDataModule(val_split=0.5, test_split=0.5)


def test_without_scikit_image_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "skimage.data", None)  # as if not installed
    with pytest.raises(UserError, match=r'scikit-image: pip install "graytransfer\[textures\]"'):
        TexturesDataModule(images=["brick", "grass"]).setup()


def test_study_config_composes_and_instantiates(tmp_path):
    cfg = compose_config(["experiment=study", "experiment/study_data@study_data=textures"],
                         tmp_path)  # fmt: skip
    assert cfg.data._target_ == "graytransfer.data.TexturesDataModule"
    assert cfg.data.image_size == 32 and cfg.trainer.max_epochs == 3
    data = instantiate(cfg.data, seed=0)
    data.setup()
    assert data.describe() == "TexturesDataModule: 8 classes, train/val/test 3200/800/1600, 32x32"


@pytest.mark.slow
def test_a_real_lite0_run_on_textures_writes_where_patches_came_from(tmp_path):
    cfg = compose_config(
        [
            *FAST,
            "data=textures",
            "data.images=[grass,gravel]",
            "data.train_per_class=16",
            "data.val_per_class=8",
            "data.test_per_class=8",
            "data.batch_size=16",
            "logger=none",
        ],
        tmp_path / "run",
    )
    info = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "classes.json").read_text())["classes"] == ["grass", "gravel"]
    rows = (out / "split.csv").read_text().splitlines()
    assert rows[0] == "split,id,label,class" and len(rows) == 1 + 32 + 16 + 16
    assert any(row.startswith("test,gravel@") for row in rows)
    assert info["classes"] == ["grass", "gravel"]
