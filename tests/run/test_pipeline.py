"""pipeline.train on the real composed configs: every foundation choice runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datafiles import class_folders

from graytransfer.errors import UserError
from graytransfer.run import build_data, check_seed, train


def test_default_config_is_lite0_repeat_digits(make_cfg) -> None:
    cfg = make_cfg(fast=False)
    assert cfg.model.name == "tf_efficientnet_lite0" and cfg.model.weights == "packaged"
    assert cfg.adapt._target_.endswith("Repeat")
    assert cfg.data._target_.endswith("DigitsDataModule")
    assert cfg.seed == 0 and cfg.monitor.metric == "val/acc"
    assert cfg.callbacks.model_checkpoint.monitor == "val/acc"


# b5 through the whole pipeline is slow; every model config (b5 too) trains a step in
# tests/model/test_backbone.py, and b0 runs the pipeline from random init in the fast tier
@pytest.mark.parametrize("model", ["b0", pytest.param("b5", marks=pytest.mark.slow)])
def test_efficientnet_random_init_trains_at_small_size(make_cfg, model: str) -> None:
    info = train(make_cfg(f"model={model}", "model.pretrained=false", "logger=none"))
    assert info["model"] == f"tf_efficientnet_{model}"
    assert 0.0 <= info["metrics"]["test/acc"] <= 1.0
    assert np.isfinite(info["metrics"]["train/loss"])


@pytest.mark.parametrize("adapt", ["repeat", "sum"])
def test_adaptations_run_and_record_their_choice(make_cfg, adapt: str) -> None:
    cfg = make_cfg(f"adapt={adapt}", "logger=csv")
    info = train(cfg)
    assert info["strategy"] == adapt
    written = json.loads((Path(cfg.paths.output_dir) / "metrics.json").read_text())
    assert written["metrics"]["test/acc"] == pytest.approx(info["metrics"]["test/acc"])
    assert written["timing"]["fit_s"] > 0
    for stage in ("train", "val", "test"):
        assert 0.0 <= written["metrics"][f"{stage}/acc"] <= 1.0
    assert written["monitor"] == {
        "metric": "val/acc",
        "mode": "max",
        "best": pytest.approx(written["metrics"]["val/acc"]),
        "best_from": "last epoch",  # fast_dev_run saves no checkpoint: no best one was chosen
    }


def three_class_folders(root: Path) -> Path:
    """`root/class_<k>/`, 10 non-square 84x112 noise PNGs each, k < 3."""
    return class_folders(root, {f"class_{k}": 10 for k in range(3)}, size=(84, 112))


def test_folder_dataset_non_square_trains(make_cfg, tmp_path: Path) -> None:
    root = three_class_folders(tmp_path / "images")
    cfg = make_cfg(
        "data=folder",
        f"data.root={root}",
        "data.image_size=[84,112]",
        "data.num_workers=0",
        "logger=none",
    )
    info = train(cfg)
    assert info["classes"] == ["class_0", "class_1", "class_2"]
    assert info["image_size"] == [84, 112]


def test_folder_batches_are_uint8_single_channel(make_cfg, tmp_path: Path) -> None:
    root = three_class_folders(tmp_path / "images")
    cfg = make_cfg("data=folder", f"data.root={root}", "data.image_size=[84,112]")
    data = build_data(cfg, (84, 112))
    images, labels = next(iter(data.train_dataloader()))
    assert images.dtype == torch.uint8 and images.shape[1:] == (1, 84, 112)
    assert labels.dtype == torch.int64
    sizes = [len(data.train_set), len(data.val_set), len(data.test_set)]
    assert sum(sizes) == 30 and sizes[1] == 6  # val_split 0.2, stratified


def test_class_folder_without_images_is_named(make_cfg, tmp_path: Path) -> None:
    root = three_class_folders(tmp_path / "images")
    (root / "empty_class").mkdir()
    with pytest.raises(UserError, match="empty_class' holds no images"):
        train(make_cfg("data=folder", f"data.root={root}"))


def test_root_without_class_folders_is_named(make_cfg, tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    with pytest.raises(UserError, match="holds no class folders"):
        train(make_cfg("data=folder", f"data.root={tmp_path / 'flat'}"))


@pytest.mark.parametrize("seed,expected", [(0, 0), (7, 7), (None, None)])
def test_seed_zero_is_a_seed(seed, expected) -> None:
    assert check_seed(seed) == expected


def test_seed_must_be_an_integer() -> None:
    with pytest.raises(UserError, match="seed: '1.5'"):
        check_seed("1.5")


def test_a_required_data_key_left_unset_stops_before_any_work(make_cfg, monkeypatch) -> None:
    """`data=folder` without `data.root`: one line naming the key, before the backbone is built."""
    built = []
    monkeypatch.setattr(
        "graytransfer.model.backbone.Backbone.__init__",
        lambda self, *a, **k: built.append(1),
    )
    with pytest.raises(UserError) as info:
        train(make_cfg("data=folder"))
    assert str(info.value).startswith("data.root is required: pass data.root=DIR")
    assert built == []
