"""Every bad input gets one clear line naming the key, file or value and what to do."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import REPO
from helpers.errors import user_message
from helpers.trained_fixture import TINY, compose_task, trained_run  # noqa: F401 - the fixture
from hydra.errors import ConfigCompositionException, MissingConfigException
from PIL import Image

from graytransfer.callbacks.nan_guard import LossNotFinite
from graytransfer.config import compose
from graytransfer.run import plan_resume, train
from graytransfer.tools.evaluate import evaluate

#: a tiny random-init model, so a case that gets as far as building the model stays fast
SMALL = ["model=timm", "model.name=test_efficientnet", "model.pretrained=false", "logger=none"]


def write_pngs(folder: Path, count: int, seed: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(folder / f"{i}.png")


def folder_cfg(make_cfg, root: Path, *extra: str):
    return make_cfg(*SMALL, "data=folder", f"data.root={root}", "data.num_workers=0", *extra)


def compose_train(*overrides: str):
    return compose(list(overrides))


def test_unknown_config_choice_lists_the_options() -> None:
    with pytest.raises(MissingConfigException) as info:
        compose_train("model=b99")
    message = str(info.value)
    assert "Could not find 'model/b99'" in message
    assert "Available options in 'model'" in message and "lite0" in message


def test_misspelled_config_key_names_the_key() -> None:
    with pytest.raises(ConfigCompositionException) as info:
        compose_train("trainer.max_epoch=3")
    message = str(info.value)
    assert "Could not override 'trainer.max_epoch'" in message
    assert "Key 'max_epoch' is not in struct" in str(info.value.__cause__)


@pytest.mark.slow
def test_misspelled_key_on_the_command_line_is_a_short_error(tmp_path: Path) -> None:
    env = {**os.environ, "GRAYTRANSFER_ROOT": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "trainer.max_epoch=3"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 1
    assert "Could not override 'trainer.max_epoch'" in result.stderr
    assert "To append to your config use +trainer.max_epoch=3" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_data_folder(make_cfg, tmp_path: Path) -> None:
    message = user_message(lambda: train(folder_cfg(make_cfg, tmp_path / "nowhere")))
    assert "data.root" in message and "nowhere" in message and "does not exist" in message


def test_empty_data_folder(make_cfg, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    message = user_message(lambda: train(folder_cfg(make_cfg, tmp_path / "empty")))
    assert "empty" in message and "holds no class folders" in message


def test_class_folder_without_images(make_cfg, tmp_path: Path) -> None:
    write_pngs(tmp_path / "data" / "cat", 6)
    (tmp_path / "data" / "dog").mkdir()
    (tmp_path / "data" / "dog" / "notes.txt").write_text("no images here")
    message = user_message(lambda: train(folder_cfg(make_cfg, tmp_path / "data")))
    assert "dog" in message and "no images" in message


def test_unreadable_image(make_cfg, tmp_path: Path) -> None:
    write_pngs(tmp_path / "data" / "cat", 6)
    write_pngs(tmp_path / "data" / "dog", 6, seed=1)
    (tmp_path / "data" / "dog" / "broken.png").write_bytes(b"not a png at all")
    message = user_message(lambda: train(folder_cfg(make_cfg, tmp_path / "data")))
    assert "broken.png" in message and "cannot be read" in message


def test_fewer_than_two_classes(make_cfg, tmp_path: Path) -> None:
    write_pngs(tmp_path / "data" / "only", 8)
    message = user_message(lambda: train(folder_cfg(make_cfg, tmp_path / "data")))
    assert "1 class" in message and "at least 2" in message


def test_image_size_the_backbone_cannot_take(make_cfg) -> None:
    cfg = make_cfg(
        "model=timm", "model.name=vit_tiny_patch16_224", "model.pretrained=false", "logger=none"
    )
    message = user_message(lambda: train(cfg))
    assert "data.image_size [32, 32]" in message and "vit_tiny_patch16_224" in message
    assert "data.image_size=native" in message


def test_checkpoint_from_another_model(trained_run, make_cfg, tmp_path: Path) -> None:  # noqa: F811
    run_dir, _ = trained_run
    loose = tmp_path / "elsewhere.ckpt"
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", loose)
    cfg = make_cfg(*SMALL, "model.name=test_resnet", "data.image_size=16", f"ckpt_path={loose}")
    message = user_message(lambda: train(cfg))
    assert "elsewhere.ckpt" in message and "model 'test_efficientnet', not 'test_resnet'" in message


def test_checkpoint_for_another_class_count(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, _ = trained_run
    for name in ("a", "b", "c"):
        write_pngs(tmp_path / "three" / name, 10)
    cfg = compose_task(
        "evaluate",
        [
            f"ckpt_path={run_dir / 'checkpoints' / 'best.ckpt'}",
            "data=folder",
            f"data.root={tmp_path / 'three'}",
            "data.num_workers=0",
            "logger=none",
        ],
        tmp_path / "eval",
    )
    message = user_message(lambda: evaluate(cfg))
    assert "best.ckpt" in message and "10 classes" in message and "not 3" in message


def test_missing_checkpoint_file(make_cfg, tmp_path: Path) -> None:
    message = user_message(lambda: plan_resume(make_cfg(f"ckpt_path={tmp_path / 'gone.ckpt'}")))
    assert "ckpt_path" in message and "gone.ckpt" in message and "is not a file" in message


@pytest.mark.slow
def test_nan_loss_stops_and_keeps_the_last_good_checkpoint(make_cfg) -> None:
    cfg = make_cfg(
        *TINY,
        "logger=none",
        "+callbacks.poison._target_=helpers.resume_helpers.PoisonAfterEpoch",
        fast=False,
    )
    with pytest.raises(LossNotFinite) as info:
        train(cfg)
    message = str(info.value)
    assert "train/loss became nan at epoch 1, step 3" in message
    last = Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt"
    assert f"kept the last good checkpoint {last}" in message
    state = torch.load(last, map_location="cpu", weights_only=True)["state_dict"]
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    assert not (Path(cfg.paths.output_dir) / "metrics.json").exists()


def test_output_folder_of_a_finished_run_is_never_overwritten(trained_run, make_cfg) -> None:  # noqa: F811
    run_dir, _ = trained_run
    before = (run_dir / "metrics.json").read_bytes()
    cfg = make_cfg(*SMALL)
    cfg.paths.output_dir = str(run_dir)
    message = user_message(lambda: train(cfg))
    assert str(run_dir) in message and "already holds a finished run" in message
    assert (run_dir / "metrics.json").read_bytes() == before


@pytest.mark.slow
def test_predict_command_with_a_missing_checkpoint_is_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "GRAYTRANSFER_ROOT": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "graytransfer.tools.predict",
            "ckpt_path=gone.ckpt",
            f"input={tmp_path}",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "graytransfer: error: ckpt_path: 'gone.ckpt' is not a file; give the path of a .ckpt file"
    )
