"""predictions.csv under real DDP (2 CPU processes over gloo): the ranks' shares are gathered,
put back in the data's test order and written once, every test image exactly once, with an odd
test split so the ranks hold different numbers of images."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from pathlib import Path

import pytest
from helpers.configs import REPO, TEST_NET, train_command

from graytransfer.run import RunFolder


@pytest.mark.slow
def test_ddp_predictions_cover_the_test_split_once_in_order(tmp_path: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run_dir = tmp_path / "run"
    cmd = train_command(
        *TEST_NET,
        "trainer=ddp_cpu",
        "logger=none",
        "callbacks=[model_checkpoint]",
        "data.test_split=0.055",  # 1,797 digits -> 99 test images: 50 + 49 per rank
        "data.batch_size=16",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.enable_progress_bar=false",
        "eval.bootstrap=100",
        f"hydra.run.dir={run_dir}",
    )
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    folder = RunFolder(run_dir)
    with (run_dir / RunFolder.SPLIT).open(newline="") as handle:
        tested = [row["id"] for row in csv.DictReader(handle) if row["split"] == "test"]
    with (run_dir / RunFolder.PREDICTIONS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(tested) % 2 == 1
    assert [row["id"] for row in rows] == tested
    record = json.loads(folder.record_file.read_text())
    correct = sum(row["pred"] == row["label"] for row in rows) / len(rows)
    assert correct == pytest.approx(record["metrics"]["test/acc"], abs=1e-6)
    low, high = record["metrics"]["test/acc_ci"]
    assert low <= record["metrics"]["test/acc"] <= high
