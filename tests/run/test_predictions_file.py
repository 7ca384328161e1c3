"""A real (tiny) run writes `predictions.csv`, one row per test image whose argmax agrees with
`test/acc`, and `metrics.json` holds each test metric's 95% interval around its value; the
summary shows `value [low, high]`; `tools.evaluate` of its checkpoint writes the same rows and
logs the bounds to its logger (csv)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from helpers.configs import TINY_RUN, compose_config
from helpers.trained_fixture import compose_task
from rich.console import Console

from graytransfer.run import RunFolder, summary_table, train
from graytransfer.tools.evaluate import evaluate


def test_tiny_run_writes_predictions_and_intervals(tmp_path: Path) -> None:
    cfg = compose_config([*TINY_RUN, "logger=none", "eval.bootstrap=200"], tmp_path / "run")
    info = train(cfg)
    folder = RunFolder(info["output_dir"])
    with (folder.path / RunFolder.PREDICTIONS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    classes = info["classes"]
    assert list(rows[0])[:5] == ["id", "split", "label", "class", f"p_{classes[0]}"]
    assert len(rows) == 16  # one test batch (limit_test_batches=1, batch size 16)
    assert {row["split"] for row in rows} == {"test"}
    split = list(csv.DictReader((folder.path / RunFolder.SPLIT).open(newline="")))
    tested = [r["id"] for r in split if r["split"] == "test"][: len(rows)]
    assert [row["id"] for row in rows] == tested  # the data's test order
    for row in rows:
        probs = [float(row[f"p_{name}"]) for name in classes]
        assert int(row["pred"]) == max(range(len(probs)), key=probs.__getitem__)
        assert row["pred_class"] == classes[int(row["pred"])]
    correct = sum(row["pred"] == row["label"] for row in rows) / len(rows)
    record = json.loads(folder.record_file.read_text())
    acc = record["metrics"]["test/acc"]
    assert correct == pytest.approx(acc, abs=1e-6)
    low, high = record["metrics"]["test/acc_ci"]
    assert low <= acc <= high
    assert record["intervals"]["samples"] == 200 and record["intervals"]["over"] == "images"
    assert record["intervals"]["seed"] == cfg.seed
    assert "test/balanced_acc_ci" in record["metrics"]
    console = Console(file=io.StringIO(), width=200, color_system=None)
    console.print(summary_table(record))
    assert f"{acc:.4f} [{low:.4f}, {high:.4f}]" in console.file.getvalue()

    # python -m graytransfer.tools.evaluate on the run's checkpoint: the same file and intervals
    out = tmp_path / "eval"
    overrides = [f"ckpt_path={record['best_checkpoint']}", "logger=csv", "eval.bootstrap=200"]
    scored = evaluate(compose_task("evaluate", [*overrides, "trainer.limit_test_batches=1"], out))
    with (out / RunFolder.PREDICTIONS).open(newline="") as handle:
        again = list(csv.DictReader(handle))
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert [r["pred"] for r in again] == [r["pred"] for r in rows]
    assert scored["metrics"]["test/acc_ci"] == pytest.approx(record["metrics"]["test/acc_ci"])
    assert scored["intervals"]["seed"] == cfg.seed  # the checkpoint's seed
    (logged,) = out.glob("csv/version_*/metrics.csv")  # the loggers get _ci_low, _ci_high
    logged_rows = list(csv.DictReader(logged.open(newline="")))
    lows = [r["test/acc_ci_low"] for r in logged_rows if r.get("test/acc_ci_low")]
    assert [float(v) for v in lows] == pytest.approx([scored["metrics"]["test/acc_ci"][0]])
