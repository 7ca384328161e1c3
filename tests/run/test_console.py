"""What a run prints and logs: a progress bar with the loss and the monitored metric only, an
end-of-run summary that names the best checkpoint and its value, paths never cut in a file or a
pipe, and `train.log` holding the run's messages."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import REPO, TEST_NET, child_env
from hydra.utils import instantiate
from omegaconf import OmegaConf
from rich.console import Console

from graytransfer.callbacks.progress import CompactProgressBar, shown_metrics
from graytransfer.config import compose
from graytransfer.run import print_summary


def test_the_progress_bar_shows_the_loss_and_the_monitored_metric_only() -> None:
    cfg = compose(["monitor.metric=val/f1"])
    bar = instantiate(cfg.callbacks.rich_progress_bar)
    assert isinstance(bar, CompactProgressBar) and bar.metrics == ("train/loss", "val/f1")
    logged = {
        "v_num": "abc",
        "train/loss_step": 1.5,
        "train/loss_epoch": 2.5,
        "train/acc": 0.4,
        "val/acc": 0.5,
        "val/f1": 0.25,
        "val/auroc": 0.75,
        "val/loss": 2.0,
    }
    assert shown_metrics(logged, bar.metrics) == {"train/loss": 1.5, "val/f1": 0.25}
    assert shown_metrics({"train/loss_epoch": 2.5}, bar.metrics) == {"train/loss": 2.5}


def test_the_summary_names_the_best_checkpoint_and_never_cuts_a_path() -> None:
    deep = "/scratch/" + "/".join(f"a-long-folder-name-{i}" for i in range(6))
    record = {
        "model": "test_efficientnet",
        "metrics": {"val/acc": 0.7, "test/acc": 0.85},
        "monitor": {"metric": "val/acc", "mode": "max", "best": 0.9},
        "best_checkpoint": f"{deep}/checkpoints/best.ckpt",
        "output_dir": deep,
        "wandb_dir": f"{deep}/wandb/offline-run-20260101_000000-abcdefgh",
    }
    out = io.StringIO()
    print_summary(record, Console(file=out, width=60))  # narrower than any of the paths
    lines = out.getvalue().splitlines()
    assert f"best checkpoint: {deep}/checkpoints/best.ckpt (val/acc = 0.9000)" in lines
    assert f"outputs: {deep}" in lines
    assert f"W&B run: {record['wandb_dir']}" in lines
    assert "…" not in out.getvalue()


TINY = [
    *TEST_NET,
    "data.batch_size=32",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "callbacks=[model_checkpoint,nan_guard,rich_progress_bar]",
    "logger=wandb",
    "extras.print_config=false",
]


@pytest.mark.slow
def test_a_run_written_to_a_file_keeps_whole_paths_and_its_log_file(tmp_path: Path) -> None:
    """stdout to a file, as in a SLURM log: rich sees no terminal."""
    run_dir = tmp_path.joinpath(*(f"a-long-folder-name-{i}" for i in range(4)), "run")
    output = tmp_path / "slurm.out"
    env = child_env(tmp_path)
    env.pop("COLUMNS", None)  # a batch job has no terminal width (pytest-xdist's workers set one)
    with output.open("w") as stdout:
        done = subprocess.run(
            [sys.executable, str(REPO / "train.py"), *TINY, f"hydra.run.dir={run_dir}"],
            env=env,
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            timeout=600,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    text = output.read_text()
    assert "…" not in text
    # Lightning's messages go through Hydra's handlers only (stdout and train.log), once
    assert text.count("GPU available") == 1 and "GPU available" not in done.stderr
    best = f"best checkpoint: {run_dir}/checkpoints/best.ckpt (val/acc = "
    assert best in text and f"W&B run: {run_dir}/wandb/offline-run-" in text
    bar = [line for line in text.splitlines() if line.startswith("Epoch 0/0")]
    assert bar and "train/loss" in bar[-1] and "val/acc" in bar[-1]
    assert not any(name in bar[-1] for name in ("val/auroc", "val/f1", "train/acc", "v_num"))
    # train.log holds Lightning's messages and the summary, with the whole paths
    log = (run_dir / "train.log").read_text()
    assert "[lightning.pytorch.utilities.rank_zero][INFO] - GPU available" in log
    assert best in log and "test/acc" in log
    # Hydra's files are written by the run itself, under the folder's lock
    saved = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert saved.model.name == "test_efficientnet" and saved.logger.wandb is not None
    assert {p.name for p in (run_dir / ".hydra").iterdir()} == {
        "config.yaml",
        "hydra.yaml",
        "overrides.yaml",
    }
