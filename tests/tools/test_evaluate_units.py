"""Fast twin of tests/tools/test_evaluate.py's slow runs: the shared tiny trained run (the
session fixture the fast tier builds anyway) scored by `evaluate` with no logger gives every test
metric, bootstrap interval included, that training recorded. It catches evaluate scoring other
images than the run's test split (another seed's split) or another checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture

from graytransfer.tools.evaluate import evaluate


def test_evaluate_of_best_reproduces_the_recorded_test_metrics(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, info = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    overrides = [f"ckpt_path={best}", "trainer.enable_progress_bar=false", "logger=none"]
    record = evaluate(compose_task("evaluate", overrides, tmp_path))
    trained = {k: v for k, v in info["metrics"].items() if k.startswith("test/")}
    scored = {k: v for k, v in record["metrics"].items() if k.startswith("test/")}
    assert {"test/acc", "test/loss", "test/acc_ci"} <= set(trained) and set(scored) == set(trained)
    for key, value in trained.items():
        assert scored[key] == pytest.approx(value, abs=1e-6), key
    assert record["wandb"] is None and (tmp_path / "metrics.json").exists()
