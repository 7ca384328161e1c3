"""bench.checkpoint_write runs end to end at a tiny size (`--dry-run`): one row per mode with its
paired cost and the time the training thread was blocked; the `before` write is the old atomic
write; costs are paired within a trial. Nothing is timed against a goal (the numbers live in
docs/benchmarks.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from bench import checkpoint_write
from graytransfer.callbacks.checkpoint_io import PARTIAL


def test_dry_run_reports_every_mode_with_its_cost_and_blocked_time(tmp_path: Path, capsys) -> None:
    out = tmp_path / "checkpoint_write.json"
    checkpoint_write.main(["--dry-run", "--threads", "1", "--out", str(out)])
    record = json.loads(out.read_text())
    rows = {row["mode"]: row for row in record["rows"]}
    assert list(rows) == list(checkpoint_write.MODES)
    assert all(row["trials"] == 3 and row["window_ms"] > 0 for row in rows.values())
    assert rows["none"]["cost_ms"] == 0 and rows["none"]["blocked_ms"] == 0
    for mode in ("before", "sync", "background"):
        assert rows[mode]["blocked_ms"] > 0
    assert record["summary"]["checkpoint_mb"] > 0.1  # the tiny model's weights and AdamW state
    assert record["settings"]["threads"] == 1 and len(record["machine"]["load_average_1_5_15"]) == 3
    assert "| mode | trials | window_ms | cost_ms |" in capsys.readouterr().out


def test_the_before_write_is_whole_loadable_and_leaves_no_partial(tmp_path: Path) -> None:
    state = {"state_dict": {"w": torch.arange(6.0)}, "epoch": 2}
    checkpoint_write.write_before(state, tmp_path / "a.ckpt")
    loaded = torch.load(tmp_path / "a.ckpt", weights_only=True)
    assert torch.equal(loaded["state_dict"]["w"], torch.arange(6.0)) and loaded["epoch"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["a.ckpt"]
    assert not list(tmp_path.glob(f".*{PARTIAL}"))


def test_costs_are_paired_within_each_trial() -> None:
    """Catches costs taken between medians (or unpaired trials): the host slows down between
    trials, which pairing cancels."""
    times = {
        "none": {"window": [1.0, 2.0, 3.0], "blocked": [0.0] * 3},
        "before": {"window": [1.3, 2.3, 3.3], "blocked": [0.2] * 3},
        "sync": {"window": [1.1, 2.2, 3.1], "blocked": [0.1] * 3},
        "background": {"window": [1.05, 2.05, 3.05], "blocked": [0.01] * 3},
    }
    rows = {row["mode"]: row for row in checkpoint_write.rows_of(times, window=4)}
    assert rows["before"]["cost_ms"] == pytest.approx(300)
    assert rows["sync"]["cost_ms"] == pytest.approx(100)
    assert rows["sync"]["cost_range_ms"] == "100 to 200"
    assert rows["background"]["cost_ms"] == pytest.approx(50)
    assert rows["background"]["blocked_ms"] == pytest.approx(10)
    assert rows["before"]["cost_steps"] == pytest.approx(300 / 500)  # the none window's step
