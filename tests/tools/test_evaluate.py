"""evaluate: a checkpoint scored on its test split reproduces the test metrics training logged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture

from graytransfer.tools.evaluate import evaluate


@pytest.mark.slow
def test_evaluate_reproduces_the_test_metrics_of_training(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, info = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    cfg = compose_task(
        "evaluate", [f"ckpt_path={best}", "trainer.enable_progress_bar=false"], tmp_path
    )
    record = evaluate(cfg)
    trained = {k: v for k, v in info["metrics"].items() if k.startswith("test/")}
    scored = {k: v for k, v in record["metrics"].items() if k.startswith("test/")}
    assert set(trained) == {"test/acc", "test/f1", "test/auroc", "test/loss"}
    assert scored == pytest.approx(trained, abs=1e-6)
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"] == record["metrics"]
    assert record["wandb"]["job_type"] == "eval"
    assert list(tmp_path.glob(f"wandb/offline-run-*-{record['wandb']['id']}"))
