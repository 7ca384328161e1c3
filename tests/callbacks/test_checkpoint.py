"""Checkpoint writes are atomic: a failed write leaves the previous file intact and loadable,
and the clean-up of temporary files never touches one a live process is writing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers.configs import compose_config
from helpers.trained_fixture import TINY

from graytransfer.callbacks.checkpoint import PARTIAL, ResumableCheckpoint
from graytransfer.run import train


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.mark.slow
def test_a_write_that_fails_midway_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config(
        [
            *TINY,
            "logger=none",
            "+callbacks.fail._target_=helpers.integrity_helpers.FailCheckpointWrites",
            "+callbacks.fail.epoch=1",
        ],
        run_dir,
    )
    with pytest.raises(OSError, match="No space left on device"):
        train(cfg)
    folder = run_dir / "checkpoints"
    for name in ("last.ckpt", "best.ckpt"):
        state = load_checkpoint(folder / name)  # whole and loadable: epoch 0's, the last good write
        assert state["global_step"] == 3 and state["epoch"] == 0
        assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
    assert not list(folder.glob(f"*{PARTIAL}")) and not list(folder.glob(f".*{PARTIAL}"))
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_clean_up_removes_only_partials_whose_writer_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    try:
        live = folder / f".last.ckpt.{writer.pid}.k3x9_a2b{PARTIAL}"
        dead = folder / f".last.ckpt.{int(gone.stdout)}.q0w8e7r6{PARTIAL}"
        # a user's files that only look like ours: never the project's to remove
        users = [folder / f".notes{PARTIAL}", folder / f".last.ckpt.{int(gone.stdout)}{PARTIAL}"]
        for path in (live, dead, *users):
            path.write_bytes(b"half a checkpoint")
        callback = ResumableCheckpoint(dirpath=folder, save_last=True)
        trainer = L.Trainer(logger=False, enable_progress_bar=False, callbacks=[callback])
        callback.setup(trainer, L.LightningModule(), "fit")
        assert live.exists() and not dead.exists()
        assert all(path.exists() for path in users)
    finally:
        writer.kill()
        writer.wait()
