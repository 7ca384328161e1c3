"""`python train.py` as a user runs it: a real subprocess, the real config tree, offline W&B."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import REPO
from helpers.wandb_records import logged_config, logged_history


def run_train(*overrides: str, tmp_path: Path, env: dict[str, str] | None = None, timeout=900):
    full_env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "HF_HUB_OFFLINE": "1",
        "GRAYTRANSFER_ROOT": str(tmp_path),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *overrides],
        cwd=tmp_path,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def only_run_dir(tmp_path: Path) -> Path:
    runs = sorted((tmp_path / "outputs" / "train" / "runs").iterdir())
    assert len(runs) == 1, runs
    return runs[0]


@pytest.mark.slow
def test_default_run_reaches_095_and_logs_to_wandb_offline(tmp_path: Path) -> None:
    """The README's main command, unchanged: Lite0 + ImageNet weights, repeat, digits."""
    result = run_train(tmp_path=tmp_path, env={"WANDB_MODE": ""})
    assert result.returncode == 0, result.stderr[-3000:]
    run_dir = only_run_dir(tmp_path)
    info = json.loads((run_dir / "metrics.json").read_text())
    assert info["model"] == "tf_efficientnet_lite0" and info["weights"] == "packaged"
    assert info["choices"]["adapt"] == "repeat" and info["choices"]["data"] == "digits"
    assert info["metrics"]["test/acc"] >= 0.95
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    assert "logging offline" in result.stdout and "wandb sync" in result.stdout
    assert str(run_dir) in result.stdout  # says where the outputs are
    logs = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(logs) == 1
    history = logged_history(logs[0])
    test_rows = [row for row in history if "test/acc" in row]
    assert test_rows[-1]["test/acc"] == pytest.approx(info["metrics"]["test/acc"])
    assert any("val/acc" in row for row in history)
    assert any("train/loss_epoch" in row for row in history)
    config = logged_config(logs[0])
    assert config["model"]["name"] == "tf_efficientnet_lite0" and config["seed"] == 0


def test_unknown_choice_names_group_and_options(tmp_path: Path) -> None:
    result = run_train("adapt=nope", tmp_path=tmp_path)
    assert result.returncode != 0
    assert "adapt/nope" in result.stderr and "repeat" in result.stderr


def test_missing_data_root_is_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "no_such_folder"
    result = run_train("data=folder", f"data.root={missing}", tmp_path=tmp_path)
    assert result.returncode == 2
    assert f"data.root '{missing}' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_offline_without_cached_weights_stops_before_training(tmp_path: Path) -> None:
    """The user's own command, offline with an empty cache: a clear stop, never random init."""
    result = run_train(
        "adapt=repeat", "model=b5", tmp_path=tmp_path, env={"HF_HOME": str(tmp_path / "hf")}
    )
    assert result.returncode == 2
    message = result.stderr
    assert "tf_efficientnet_b5" in message
    assert "model.weights=PATH" in message and "model.pretrained=false" in message
    assert "online" in message
    assert "Epoch" not in result.stdout
