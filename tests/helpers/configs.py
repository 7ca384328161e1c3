"""Composing the real Hydra configs for tests, through the project's one `compose()`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import DictConfig, open_dict

from graytransfer.config import compose, conf_dir

REPO = Path(__file__).resolve().parents[2]
CONF = conf_dir()


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real `conf/train.yaml` with `overrides`, writing into `output_dir` (and reading
    downloaded data from `output_dir/data`, so no test touches the user's data folder)."""
    cfg = compose(overrides, output_dir=output_dir)
    with open_dict(cfg):
        cfg.paths.data_dir = str(output_dir / "data")
    return cfg


#: overrides that make a run small: tiny images, one batch of each stage, no progress bar
FAST = [
    "data.image_size=32",
    "trainer.fast_dev_run=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.rich_progress_bar",
]


#: timm's untrained test EfficientNet (random init, no weights needed) at 16x16
TEST_NET = [
    "model=timm",
    "model.name=test_efficientnet",
    "model.pretrained=false",
    "data.image_size=16",
]

#: TEST_NET on the digits, batch 16, checkpoints only: seconds per epoch on a CPU
TINY_MODEL = [
    *TEST_NET,
    "data.batch_size=16",
    "callbacks=[model_checkpoint]",
    "trainer.enable_progress_bar=false",
]

#: TINY_MODEL for one short epoch through every stage
TINY_RUN = [
    *TINY_MODEL,
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
]


def child_env(root: Path) -> dict[str, str]:
    """The environment of a `train.py` child process in a test: outputs under `root`, offline
    W&B and hub, and tests/ importable (for test callbacks named by `_target_`)."""
    env = dict(os.environ)
    env.update(
        GRAYTRANSFER_ROOT=str(root),
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        HF_HUB_OFFLINE="1",
        PYTHONPATH=os.pathsep.join([str(REPO / "tests"), env.get("PYTHONPATH", "")]),
    )
    return env


def train_command(*args: str) -> list[str]:
    """`python train.py *args`, as a command line."""
    return [sys.executable, str(REPO / "train.py"), *args]


def run_train_py(
    *args: str,
    root: Path,
    cwd: Path = REPO,
    env: dict[str, str] | None = None,
    timeout: int = 600,
) -> subprocess.CompletedProcess:
    """`python train.py *args` in a child process (`child_env(root)`, then `env`), run in
    `cwd`; its output captured as text. The exit status is the caller's to check."""
    return subprocess.run(
        train_command(*args),
        cwd=cwd,
        env={**child_env(root), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_paused_train(
    root: Path, marker: Path, *args: str, epoch: int = 0, timeout_s: float = 300
) -> subprocess.Popen:
    """`python train.py ARGS` started and left waiting at the end of epoch `epoch` (its
    checkpoints written; helpers.resume_helpers.PauseAfterEpoch touches `marker`); returned once
    it waits. Its output is piped (stdout with stderr); the caller ends it."""
    process = subprocess.Popen(
        train_command(
            *args,
            "+callbacks.pause._target_=helpers.resume_helpers.PauseAfterEpoch",
            f"+callbacks.pause.marker={marker}",
            f"+callbacks.pause.epoch={epoch}",
        ),
        env=child_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + timeout_s
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    if not marker.exists():
        process.kill()
        raise AssertionError(process.communicate(timeout=60)[0][-3000:])
    return process
