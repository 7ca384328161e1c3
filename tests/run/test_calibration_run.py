"""A real (tiny) run writes `reliability.png` into its folder and records `test/ece` and
`test/brier` (also with the intervals off), shown in the summary, and so does `tools.evaluate`
of its checkpoint; a W&B logger gets the diagram as an image."""

from __future__ import annotations

import io
import json
from pathlib import Path
from unittest.mock import MagicMock

import numpy as np
import pytest
from helpers.configs import TINY_RUN, compose_config
from helpers.trained_fixture import compose_task
from lightning.pytorch.loggers import WandbLogger
from rich.console import Console

from graytransfer.evaluation.calibration import calibration
from graytransfer.evaluation.predictions import Predictions
from graytransfer.run import RunFolder, summary_table, train
from graytransfer.run.evaluation import log_calibration
from graytransfer.tools.evaluate import evaluate


def test_tiny_run_writes_reliability_diagram_and_calibration(tmp_path: Path) -> None:
    cfg = compose_config([*TINY_RUN, "logger=none", "eval.bootstrap=0"], tmp_path / "run")
    info = train(cfg)
    folder = RunFolder(info["output_dir"])
    png = folder.path / RunFolder.RELIABILITY
    assert png.read_bytes().startswith(b"\x89PNG")
    record = json.loads(folder.record_file.read_text())
    ece, brier = record["metrics"]["test/ece"], record["metrics"]["test/brier"]
    assert 0 <= ece <= 1
    assert 0 <= brier <= 1  # multiclass Brier is at most 2; near-uniform outputs stay below 1
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(summary_table(record))
    assert f"{ece:.4f}" in console.file.getvalue()

    # python -m graytransfer.tools.evaluate on the run's checkpoint: the same diagram and values
    out = tmp_path / "eval"
    overrides = [f"ckpt_path={record['best_checkpoint']}", "logger=none", "eval.bootstrap=0"]
    scored = evaluate(compose_task("evaluate", [*overrides, "trainer.limit_test_batches=1"], out))
    assert (out / RunFolder.RELIABILITY).read_bytes().startswith(b"\x89PNG")
    assert scored["metrics"]["test/ece"] == pytest.approx(ece)
    assert scored["metrics"]["test/brier"] == pytest.approx(brier)


def test_wandb_gets_the_diagram_as_an_image(tmp_path: Path) -> None:
    preds = Predictions(
        task="binary",
        names=["pos"],
        class_names=["neg", "pos"],
        probs=np.array([0.2, 0.7]),
        labels=np.array([0, 1]),
        ids=["a", "b"],
    )
    wandb, other = MagicMock(spec=WandbLogger), MagicMock()
    log_calibration([wandb, other], calibration(preds), tmp_path / "reliability.png", step=3)
    wandb.log_image.assert_called_once_with(
        key="test/reliability", images=[str(tmp_path / "reliability.png")]
    )
    other.log_image.assert_not_called()
    (values,), kwargs = other.log_metrics.call_args
    assert set(values) == {"test/ece", "test/brier"} and kwargs == {"step": 3}
