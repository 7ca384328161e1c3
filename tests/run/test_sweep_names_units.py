"""Fast twin of the slow sweep-name run (run/test_names.py): this process as job 0 of a multirun
(helpers.multirun) with Optuna's full-precision learning rate builds its W&B logger (offline),
whose run is named with the rounded overrides; the config keeps the full value."""

from __future__ import annotations

from pathlib import Path

from helpers.configs import TEST_NET, compose_config
from helpers.multirun import multirun_job
from helpers.wandb_records import offline_log

from graytransfer.run import build_loggers, finish_wandb

LR = "0.0059812219011525555"


def test_a_sweep_job_is_named_with_optunas_floats_rounded(tmp_path: Path) -> None:
    overrides = [f"optim.lr={LR}", "seed=7", *TEST_NET, "logger=wandb"]
    with multirun_job(tmp_path / "sweep", 0, overrides) as job_dir:
        cfg = compose_config(overrides, job_dir)
        try:
            (logger,) = build_loggers(cfg)
            name = logger.experiment.name
        finally:
            finish_wandb()
    assert name.startswith("0: optim.lr=0.00598 seed=7 model=timm"), name
    assert cfg.optim.lr == float(LR)
    log = offline_log(job_dir / "wandb").read_bytes()
    assert b"0: optim.lr=0.00598 seed=7 model=timm" in log
    assert f"0: optim.lr={LR}".encode() not in log
