"""`debug=fdr|overfit|limit|profiler|default` (conf/debug/) and the Trainer keys of
conf/trainer/default.yaml that are set without `+`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.configs import TINY_MODEL, compose_config
from helpers.train_main import run_train_main
from hydra.utils import instantiate

from graytransfer.run import train

#: what each debug config sets on top of debug/default (trainer keys)
EXPECTED = {
    "default": {"max_epochs": 1},
    "fdr": {"fast_dev_run": True},
    "overfit": {"overfit_batches": 3, "max_epochs": 20},
    "limit": {"limit_train_batches": 4, "limit_val_batches": 2, "max_epochs": 3},
    "profiler": {"max_epochs": 1},
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_debug_config_composes_quiet_deterministic_and_apart(tmp_path: Path, name: str):
    cfg = compose_config([f"debug={name}"], tmp_path / "run")
    assert cfg.task_name == "debug"  # outputs/debug/..., never among the real runs
    assert not cfg.logger  # no experiment logger
    assert cfg.trainer.deterministic is True
    assert cfg.data.num_workers == 0
    for key, value in EXPECTED[name].items():
        assert cfg.trainer[key] == value, (name, key)
    if name == "overfit":
        assert cfg.data.augment == "none" and not cfg.data.hflip and not cfg.data.vflip
    if name == "profiler":
        assert cfg.trainer.profiler.filename == "profile"


def test_a_debug_config_wins_over_an_experiment_and_yields_to_the_command_line(tmp_path: Path):
    cfg = compose_config(
        ["experiment=compare_adapt", "debug=limit", "trainer.max_epochs=5"], tmp_path / "run"
    )
    assert cfg.trainer.limit_train_batches == 4 and cfg.trainer.max_epochs == 5


def test_trainer_keys_are_set_without_plus_and_reach_the_trainer(tmp_path: Path) -> None:
    overrides = [
        "trainer.gradient_clip_val=1.0",
        "trainer.accumulate_grad_batches=2",
        "trainer.limit_train_batches=0.5",
        "trainer.num_sanity_val_steps=0",
        "trainer.check_val_every_n_epoch=2",
        "trainer.accelerator=cpu",
    ]
    cfg = compose_config(overrides, tmp_path / "run")
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[])
    assert trainer.gradient_clip_val == 1.0
    assert trainer.accumulate_grad_batches == 2
    assert trainer.limit_train_batches == 0.5
    assert trainer.num_sanity_val_steps == 0
    assert trainer.check_val_every_n_epoch == 2


def test_the_default_trainer_keys_are_lightnings_defaults(tmp_path: Path) -> None:
    """Listing a key in conf/trainer/default.yaml changes nothing until it is set."""
    cfg = compose_config(["trainer.accelerator=cpu"], tmp_path / "run")
    ours = instantiate(cfg.trainer, logger=False, callbacks=[])
    import lightning as L

    theirs = L.Trainer(
        accelerator="cpu",
        devices=1,
        max_epochs=cfg.trainer.max_epochs,
        logger=False,
        callbacks=[],
        default_root_dir=str(tmp_path),
    )
    for key in (
        "gradient_clip_val",
        "gradient_clip_algorithm",
        "accumulate_grad_batches",
        "limit_train_batches",
        "limit_val_batches",
        "limit_test_batches",
        "val_check_interval",
        "check_val_every_n_epoch",
        "num_sanity_val_steps",
        "overfit_batches",
        "max_steps",
        "reload_dataloaders_every_n_epochs",
    ):
        assert getattr(ours, key) == getattr(theirs, key), key


def steps_trained(run_dir: Path) -> int:
    """The optimizer steps recorded in the run's last.ckpt."""
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    return int(ckpt["global_step"])


def test_debug_fdr_runs_one_batch_and_keeps_no_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    info = train(compose_config([*TINY_MODEL, "debug=fdr"], run_dir))
    assert info["status"] == "ok" and info["epochs"] == 1
    assert info["best_checkpoint"] is None  # fast_dev_run: no best checkpoint is chosen
    assert steps_trained(run_dir) == 1
    assert (run_dir / "metrics.json").is_file()


def test_debug_limit_runs_three_short_epochs_with_checkpoints(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    info = train(compose_config([*TINY_MODEL, "debug=limit"], run_dir))
    assert info["status"] == "ok" and info["epochs"] == 3
    assert steps_trained(run_dir) == 3 * 4
    assert info["best_checkpoint"] and Path(info["best_checkpoint"]).is_file()
    assert info["wandb_dir"] is None  # logger none


def test_debug_profiler_writes_its_report_into_the_run_folder(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    limits = [f"trainer.limit_{stage}_batches=1" for stage in ("train", "val", "test")]
    train(compose_config([*TINY_MODEL, "debug=profiler", *limits], run_dir))
    report = (run_dir / "fit-profile.txt").read_text()
    assert "Profiler Report" in report and "run_training_epoch" in report


@pytest.mark.slow
def test_train_py_debug_fdr_runs_under_outputs_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train.py debug=fdr` (in process, helpers.train_main) started from another folder."""
    monkeypatch.chdir(tmp_path)
    done = run_train_main(
        "debug=fdr", *TINY_MODEL, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    assert done.code == 0, done.err[-3000:]
    runs = list((tmp_path / "outputs" / "debug" / "runs").iterdir())
    assert len(runs) == 1 and not (tmp_path / "outputs" / "train").exists()
    assert json.loads((runs[0] / "metrics.json").read_text())["status"] == "ok"
    assert not (runs[0] / "wandb").exists()
