"""bench.bootstrap_cost runs end to end at a tiny size (`--dry-run`): one row per task with the
wall time of the intervals, of the subgroups and of both, and the CPU time; the load average is
in the record. Nothing is timed against a goal (the numbers live in docs/benchmarks.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import bootstrap_cost
from graytransfer.evaluation.reference import reference_metrics


def test_dry_run_reports_every_task_with_its_times_and_the_load(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bootstrap_cost.json"
    bootstrap_cost.main(["--dry-run", "--profile", "--out", str(out)])
    record = json.loads(out.read_text())
    assert [(r["task"], r["images"], r["resamples"]) for r in record["rows"]] == [
        (task, 60, 20) for task in bootstrap_cost.TASKS
    ]
    for row in record["rows"]:
        assert row["subgroups"] == 3  # the subgroups measured, each with its intervals
        assert row["intervals_s"] > 0 and row["subgroups_s"] > 0 and row["cpu_s"] > 0
        assert row["total_s"] == pytest.approx(row["intervals_s"] + row["subgroups_s"])
    assert len(record["machine"]["load_average_1_5_15"]) == 3
    assert len(record["settings"]["load_average_before"]) == 3
    assert record["settings"]["subgroups"] == {"columns": 1, "subgroups": 3}
    printed = capsys.readouterr().out
    assert "| task | images | resamples | subgroups | intervals_s |" in printed
    assert "### profile: multilabel, 60 images" in printed and "cumulative" in printed


@pytest.mark.parametrize("task", bootstrap_cost.TASKS)
def test_synthetic_predictions_are_shaped_like_a_models(task) -> None:
    preds = bootstrap_cost.synthetic(task, 400)
    outputs = {"multiclass": bootstrap_cost.CLASSES, "binary": 1, "multilabel": 5}[task]
    assert preds.probs.shape == (400, outputs)
    assert 0.65 < reference_metrics(preds)["auroc"] < 0.99  # informative, not perfect
    if task == "multilabel":
        unknown = (preds.labels == -1).mean()
        assert 0.02 < unknown < 0.08


def test_one_subgroup_column_with_three_subgroups() -> None:
    (column,) = bootstrap_cost.subgroup_labels(1000).values()
    values, sizes = np.unique(column, return_counts=True)
    assert list(values) == list(bootstrap_cost.SUBGROUPS)
    assert sizes[0] > sizes[1] > sizes[2] > 100
