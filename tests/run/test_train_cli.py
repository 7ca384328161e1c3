"""`python train.py` as a user runs it: a real subprocess, the real config tree, offline W&B
(or, where no process-wide setting is the point, the same entry point in process:
helpers.train_main)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.configs import FAST, TINY_RUN, compose_config, run_train_py
from helpers.datafiles import class_folders
from helpers.train_main import run_train_main
from helpers.wandb_records import logged_config, logged_history

from train import train_or_test


def run_train(*overrides: str, tmp_path: Path, env: dict[str, str] | None = None):
    """`python train.py` as the user runs it, in `tmp_path` (its outputs there too)."""
    return run_train_py(*overrides, root=tmp_path, cwd=tmp_path, env=env, timeout=900)


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


def test_missing_data_root_is_one_clear_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no_such_folder"
    result = run_train_main(
        "data=folder", f"data.root={missing}", root=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert result.code == 2
    assert f"data.root '{missing}' does not exist" in result.err
    assert "Traceback" not in result.err


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


#: TINY_RUN, logging nowhere
QUIET_RUN = [*TINY_RUN, "logger=none"]


@pytest.mark.slow
def test_test_false_skips_testing_and_train_false_only_tests_a_checkpoint(tmp_path: Path):
    fitted = train_or_test(compose_config([*QUIET_RUN, "test=false"], tmp_path / "fit"))
    assert fitted["status"] == "ok" and fitted["metrics"]["val/acc"] is not None
    assert not [key for key in fitted["metrics"] if key.startswith("test/")]
    best = Path(fitted["best_checkpoint"])
    stamp = best.stat().st_mtime_ns

    cfg = compose_config([*QUIET_RUN, "train=false", f"ckpt_path={best}"], tmp_path / "test")
    tested = train_or_test(cfg)
    assert tested["checkpoint"] == str(best) and 0.0 <= tested["metrics"]["test/acc"] <= 1.0
    assert not [key for key in tested["metrics"] if key.startswith(("train/", "val/"))]
    record = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert record["metrics"]["test/acc"] == tested["metrics"]["test/acc"]
    assert not (tmp_path / "test" / "checkpoints").exists()  # nothing was trained
    assert best.stat().st_mtime_ns == stamp  # the tested run is left as it was


def test_train_false_and_test_false_is_one_line(tmp_path: Path) -> None:
    result = run_train("train=false", "test=false", "ckpt_path=x.ckpt", tmp_path=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "graytransfer: error: train=false and test=false: nothing to do; drop one of them"
    )


def test_example_folder_is_a_single_run_on_your_own_folder(tmp_path: Path) -> None:
    root = class_folders(tmp_path / "images", {"cat": 10, "dog": 10})
    cfg = compose_config(["experiment=example_folder", f"data.root={root}", *FAST], tmp_path / "r")
    assert cfg.tags == ["example_folder"] and cfg.data.balance == "loss"
    info = train_or_test(cfg)
    assert info["status"] == "ok" and info["classes"] == ["cat", "dog"]
    assert info["model"] == "tf_efficientnet_lite0" and info["weights"] == "packaged"
    assert info["strategy"] == "repeat"


def test_example_folder_needs_data_root_and_is_not_a_sweep(tmp_path: Path) -> None:
    result = run_train("experiment=example_folder", tmp_path=tmp_path)
    assert result.returncode == 2
    assert "graytransfer: error: data.root is required" in result.stderr
    hydra = run_train("experiment=example_folder", "--cfg", "hydra", tmp_path=tmp_path)
    assert "\n  mode: null\n" in hydra.stdout  # a single run (the study's experiments: MULTIRUN)
