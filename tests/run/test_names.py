"""Readable W&B names: `<model>-<adapt>-<data>-s<seed>` for a single run, and sweep job names
whose floats are rounded (Optuna's full-precision values would pass W&B's 128 characters)."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.configs import TEST_NET, compose_config
from helpers.train_main import run_train_main
from helpers.wandb_records import offline_log

from graytransfer.run import build_loggers, finish_wandb, run_name, short_override

TINY = [
    *TEST_NET,
    "trainer.fast_dev_run=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.rich_progress_bar",
]


@pytest.mark.parametrize(
    ("override", "short"),
    [
        ("optim.lr=0.0059812219011525555", "optim.lr=0.00598"),
        ("optim.weight_decay=1.2345678e-05", "optim.weight_decay=1.23e-05"),
        ("optim.betas=[0.9,0.99912345]", "optim.betas=[0.9,0.999]"),
        ("seed=3", "seed=3"),
        ("optim.lr=0.001", "optim.lr=0.001"),
        ("data.root=/data/v1.234567", "data.root=/data/v1.234567"),
        ("adapt=repeat", "adapt=repeat"),
        ("~callbacks.rich_progress_bar", "~callbacks.rich_progress_bar"),
    ],
)
def test_sweep_overrides_round_floats_only(override: str, short: str) -> None:
    assert short_override(override) == short


@pytest.mark.parametrize(
    ("overrides", "name"),
    [
        ([], "tf_efficientnet_lite0-repeat-digits-s0"),
        (["model=b3", "adapt=adapter", "seed=12"], "tf_efficientnet_b3-adapter-digits-s12"),
        (["seed=null"], "tf_efficientnet_lite0-repeat-digits"),
        (
            ["data=folder", "data.root=/data/chest xrays/"],
            "tf_efficientnet_lite0-repeat-chest_xrays-s0",
        ),
        (["data=csv", "data.csv=/data/labels.csv"], "tf_efficientnet_lite0-repeat-labels-s0"),
        (["data=medmnist", "data.subset=oct"], "tf_efficientnet_lite0-repeat-oct-s0"),
        (["data=fashion_mnist"], "tf_efficientnet_lite0-repeat-fashionmnist-s0"),
    ],
)
def test_a_single_run_name_says_model_adapt_data_and_seed(
    tmp_path: Path, overrides: list[str], name: str
) -> None:
    assert run_name(compose_config(overrides, tmp_path / "run")) == name


def test_a_config_without_a_model_gets_no_name(tmp_path: Path) -> None:
    cfg = compose_config([], tmp_path / "run")
    del cfg.model
    assert run_name(cfg) is None


def test_a_single_run_is_named_in_wandb_unless_the_config_names_it(tmp_path: Path) -> None:
    for name, overrides in (
        ("test_efficientnet-sum-digits-s5", []),
        ("mine", ["logger.wandb.name=mine"]),
    ):
        out = tmp_path / name
        cfg = compose_config([*TINY, "adapt=sum", "seed=5", "logger=wandb", *overrides], out)
        try:
            (logger,) = build_loggers(cfg)
            assert logger.experiment.name == name
        finally:
            finish_wandb()
        assert name.encode() in offline_log(out / "wandb").read_bytes()


@pytest.mark.slow
def test_a_sweep_job_name_rounds_optunas_floats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train.py -m` in process (helpers.train_main): a real one-job Hydra multirun."""
    lr = "0.0059812219011525555"
    args = ["-m", f"optim.lr={lr}", "seed=7", *TINY, f"paths.log_dir={tmp_path}/logs"]
    args += [f"hydra.sweep.dir={tmp_path}/sweep"]
    done = run_train_main(*args, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.code == 0, done.err[-3000:]
    log = offline_log(tmp_path / "sweep" / "0" / "wandb").read_bytes()
    assert b"0: optim.lr=0.00598 seed=7 model=timm" in log  # the name (the config keeps the lr)
    assert f"0: optim.lr={lr}".encode() not in log
