"""evaluate: a checkpoint scored on its test split reproduces the test metrics training logged,
whichever loggers are chosen (none, csv, wandb with job type eval, or several)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture
from omegaconf import OmegaConf

from graytransfer.errors import UserError
from graytransfer.run import build_loggers
from graytransfer.tools.evaluate import evaluate


def evaluate_run(run_dir: Path, out: Path, *overrides: str) -> dict:
    best = run_dir / "checkpoints" / "best.ckpt"
    cfg = compose_task(
        "evaluate", [f"ckpt_path={best}", "trainer.enable_progress_bar=false", *overrides], out
    )
    return evaluate(cfg)


def assert_same_test_metrics(record: dict, info: dict) -> None:
    """Evaluate scores the checkpoint the run tested exactly as the run did: every test metric
    and its bootstrap interval (same seed, same images)."""
    trained = {k: v for k, v in info["metrics"].items() if k.startswith("test/")}
    scored = {k: v for k, v in record["metrics"].items() if k.startswith("test/")}
    assert {"test/acc", "test/f1", "test/auroc", "test/loss", "test/acc_ci"} <= set(trained)
    assert set(scored) == set(trained)
    for key, value in trained.items():
        assert scored[key] == pytest.approx(value, abs=1e-6), key


def csv_test_acc(out: Path) -> float:
    (metrics_csv,) = out.glob("csv/version_*/metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    return float(next(row["test/acc"] for row in rows if row.get("test/acc")))


@pytest.mark.slow
def test_evaluate_reproduces_the_test_metrics_of_training(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, info = trained_run
    record = evaluate_run(run_dir, tmp_path)
    assert_same_test_metrics(record, info)
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == record["metrics"]
    assert record["wandb"]["job_type"] == "eval"
    assert list(tmp_path.glob(f"wandb/offline-run-*-{record['wandb']['id']}"))


@pytest.mark.slow
def test_evaluate_with_no_logger_and_with_csv(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, info = trained_run
    record = evaluate_run(run_dir, tmp_path / "none", "logger=none")
    assert_same_test_metrics(record, info)
    assert record["wandb"] is None and (tmp_path / "none" / "metrics.json").exists()
    assert not list((tmp_path / "none").glob("wandb")) and not list((tmp_path / "none").glob("csv"))

    record = evaluate_run(run_dir, tmp_path / "csv", "logger=csv")
    assert_same_test_metrics(record, info)
    assert record["wandb"] is None
    assert csv_test_acc(tmp_path / "csv") == pytest.approx(record["metrics"]["test/acc"])


@pytest.mark.slow
def test_evaluate_logs_to_wandb_and_csv_at_once(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, info = trained_run
    record = evaluate_run(run_dir, tmp_path, "logger=[wandb,csv]")
    assert_same_test_metrics(record, info)
    assert record["wandb"]["job_type"] == "eval"
    assert list(tmp_path.glob(f"wandb/offline-run-*-{record['wandb']['id']}"))
    assert csv_test_acc(tmp_path) == pytest.approx(record["metrics"]["test/acc"])


def test_train_logs_job_type_train_and_a_misplaced_logger_setting_is_named(tmp_path: Path) -> None:
    from graytransfer.config import compose

    cfg = compose(["logger=[wandb,csv]"], output_dir=tmp_path)
    assert set(cfg.logger) == {"wandb", "csv"}
    assert OmegaConf.to_container(cfg.logger.wandb, resolve=True)["job_type"] == "train"
    cfg = compose(["logger=csv", "+logger.project=x"], output_dir=tmp_path)
    with pytest.raises(UserError, match=r"^logger\.project: not a logger \(loggers: csv\)"):
        build_loggers(cfg)
    cfg = compose(["logger=csv", "+logger.wandb.project=x"], output_dir=tmp_path)
    not_chosen = r"^logger\.wandb: settings for a logger that is not chosen \(loggers: csv\)"
    with pytest.raises(UserError, match=not_chosen):
        build_loggers(cfg)
