"""Fast twin of the slow multi-logger run (run/test_loggers.py): a tiny run with two loggers at
once (CSV and TensorBoard, both offline files) logs its fit and its test metrics to both, the
test values being the ones the run records."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.configs import TINY_RUN, compose_config
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from graytransfer.run import train

RUN = [*TINY_RUN, "data.batch_size=4", "eval.bootstrap=0", "logger=[csv,tensorboard]"]


def test_a_run_logs_its_fit_and_test_metrics_to_every_logger(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    info = train(compose_config(RUN, run_dir))
    test_acc = info["metrics"]["test/acc"]
    assert json.loads((run_dir / "metrics.json").read_text())["metrics"]["test/acc"] == test_acc

    events = EventAccumulator(str(run_dir / "tensorboard"))
    events.Reload()
    assert events.Scalars("test/acc")[-1].value == pytest.approx(test_acc)
    assert events.Scalars("val/acc")  # the fit was logged too

    with (run_dir / "csv" / "version_0" / "metrics.csv").open(newline="") as handle:
        logged = list(csv.DictReader(handle))
    tested = [float(r["test/acc"]) for r in logged if r.get("test/acc")]
    assert tested and tested[-1] == pytest.approx(test_acc)
    assert any(r.get("val/acc") for r in logged)
