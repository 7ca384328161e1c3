"""Real DDP: 2 CPU processes over gloo, inside a Hydra multirun of 2 jobs.

One sweep checks the promises of trainer=ddp_cpu at once: each job re-launches only itself (the
sweep is launched once), rank 0 alone writes the run's files and its one W&B run, validation
counts every image exactly once (the same checkpoint scored in a single process gives the same
accuracy, with a validation split of an odd size whose shares give the ranks different batch
counts), and predictions.csv gathers the ranks' shares of an odd test split back into the data's
test order, written once, every test image exactly once.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
from helpers.configs import REPO, child_env
from omegaconf import OmegaConf

from graytransfer.model.restore import load_trained
from graytransfer.run import RunFolder, build_data


def check_predictions(run_dir: Path) -> None:
    """predictions.csv holds the run's test split once, in the split's order, and its accuracy
    (and bootstrap interval) is the record's."""
    with (run_dir / RunFolder.SPLIT).open(newline="") as handle:
        tested = [row["id"] for row in csv.DictReader(handle) if row["split"] == "test"]
    with (run_dir / RunFolder.PREDICTIONS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(tested) % 2 == 1
    assert [row["id"] for row in rows] == tested
    record = json.loads(RunFolder(run_dir).record_file.read_text())
    correct = sum(row["pred"] == row["label"] for row in rows) / len(rows)
    assert correct == pytest.approx(record["metrics"]["test/acc"], abs=1e-6)
    low, high = record["metrics"]["test/acc_ci"]
    assert low <= record["metrics"]["test/acc"] <= high


@pytest.mark.slow
def test_ddp_cpu_in_a_multirun(tmp_path: Path) -> None:
    env = child_env(tmp_path)
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        "trainer=ddp_cpu",
        "seed=0,1",
        "data.image_size=32",  # the packaged ImageNet weights: predictions vary from the start
        # 1,797 digits -> 189 validation images: 95 + 94 per rank, 3 + 2 batches of 47
        "data.val_split=0.105",
        # -> 99 test images: 50 + 49 per rank
        "data.test_split=0.055",
        "data.batch_size=47",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=4",
        "trainer.enable_progress_bar=false",
        "~callbacks.rich_progress_bar",
        "eval.bootstrap=100",
        f"paths.log_dir={tmp_path}/logs",
        f"hydra.sweep.dir={sweep}",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert output.count("Launching 2 jobs") == 1  # rank 1 ran its job, not the sweep again
    assert not (tmp_path / "logs").exists() or not list((tmp_path / "logs").rglob("multirun.yaml"))

    for job in ("0", "1"):
        folder = sweep / job
        metrics = list(p for p in folder.rglob("metrics.json") if "wandb" not in p.parts)
        assert metrics == [folder / "metrics.json"]
        assert len(list((folder / "wandb").glob("offline-run-*"))) == 1
        record = json.loads(metrics[0].read_text())
        assert record["status"] == "ok" and "train/val/test" in record["data"]
        assert "/189/99" in record["data"]
        check_predictions(folder)

    record = json.loads((sweep / "0" / "metrics.json").read_text())
    trained = load_trained(record["best_checkpoint"])
    config = OmegaConf.create(trained.config)
    data = build_data(config, trained.image_size)  # same seed -> the same split
    assert len(data.val_set) == 189
    single = L.Trainer(accelerator="cpu", devices=1, logger=False, enable_progress_bar=False)
    (scores,) = single.validate(trained.model, datamodule=data, verbose=False)
    assert scores["val/acc"] == pytest.approx(record["metrics"]["val/acc"], abs=1e-6)
    assert scores["val/loss"] == pytest.approx(record["metrics"]["val/loss"], rel=1e-4)
