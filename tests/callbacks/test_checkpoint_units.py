"""Fast twins of the slow checkpoint and NaN-guard runs (tests/callbacks/test_checkpoint.py,
test_nan_guard.py, tests/run/test_resume.py's Ctrl-C run): the real `ResumableCheckpoint` in a
real Lightning `Trainer` over Lightning's own `BoringModel` (one Linear layer, random data), two
batches an epoch, so each case runs in about a second instead of a pipeline run."""

from __future__ import annotations

import signal
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers.integrity_helpers import FailCheckpointWrites, SlowWrites
from lightning.pytorch.demos.boring_classes import BoringModel

from graytransfer.callbacks import checkpoint as checkpoint_module
from graytransfer.callbacks import checkpoint_io
from graytransfer.callbacks.checkpoint import PARTIAL, ResumableCheckpoint
from graytransfer.errors import LossNotFinite

#: steps per epoch of every fit below
STEPS = 2


class PoisonAtEpochStart(L.Callback):
    """At the start of epoch `epoch` fill the model's Linear bias with NaN (epoch `epoch - 1`'s
    checkpoint already written): a model that diverged at a known step."""

    def __init__(self, epoch: int = 1) -> None:
        self.epoch = epoch

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.current_epoch == self.epoch:
            pl_module.layer.bias.data.fill_(float("nan"))


class CtrlCAfterStep(L.Callback):
    """Raise KeyboardInterrupt (what Ctrl-C raises) after training step `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def fit(run_dir: Path, *callbacks: L.Callback, epochs: int = 2) -> ResumableCheckpoint:
    """Fit a BoringModel for `epochs` epochs of `STEPS` steps with a ResumableCheckpoint writing
    `run_dir/checkpoints/last.ckpt` only (no top-k files), plus `callbacks`."""
    checkpoint = ResumableCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0)
    trainer = L.Trainer(
        default_root_dir=run_dir,
        accelerator="cpu",
        max_epochs=epochs,
        limit_train_batches=STEPS,
        limit_val_batches=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[checkpoint, *callbacks],
    )
    torch.manual_seed(0)
    trainer.fit(BoringModel())
    return checkpoint


def fit_until_ctrl_c(run_dir: Path, *callbacks: L.Callback) -> None:
    """`fit` stopped by Ctrl-C (Lightning exits); pytest gets its SIGINT handler back."""
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):
            fit(run_dir, *callbacks)
    finally:  # Lightning ignores SIGINT while it shuts down
        signal.signal(signal.SIGINT, handler)


def saved_step(path: Path) -> int:
    """The global step of the whole, loadable, finite checkpoint at `path`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state["state_dict"].values())
    return state["global_step"]


def test_a_write_that_fails_midway_leaves_the_previous_last_ckpt_and_no_partial(
    tmp_path: Path,
) -> None:
    """Catches a non-atomic write (a truncated last.ckpt) and a failed write's temporary file
    left behind (twin of test_checkpoint.py's slow pipeline run)."""
    with pytest.raises(OSError, match="No space left on device"):
        fit(tmp_path, FailCheckpointWrites(epoch=1))
    folder = tmp_path / "checkpoints"
    assert saved_step(folder / "last.ckpt") == STEPS  # epoch 0's, whole
    assert sorted(p.name for p in folder.iterdir()) == ["last.ckpt"]
    assert not list(folder.glob(f".*{PARTIAL}"))


def test_a_non_finite_model_is_never_saved_and_the_error_says_what_was_kept(
    tmp_path: Path,
) -> None:
    """Catches a checkpoint callback that saves NaN weights (twin of test_nan_guard.py's
    `the_checkpoint_callback_alone_never_saves_a_non_finite_model`)."""
    with pytest.raises(LossNotFinite) as info:
        fit(tmp_path, PoisonAtEpochStart(epoch=1))
    message = str(info.value)
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert "\n" not in message and f"the model diverged at epoch 1, step {2 * STEPS}" in message
    assert "holds NaN/inf values" in message and "last.ckpt was not written" in message
    assert f"kept the last good checkpoint {last}" in message and "optim.lr" in message
    assert saved_step(last) == STEPS


def test_ctrl_c_mid_epoch_saves_last_ckpt_at_that_step(tmp_path: Path, capsys) -> None:
    """Catches an interruption that saves nothing (twin of test_resume.py's Ctrl-C run)."""
    fit_until_ctrl_c(tmp_path, CtrlCAfterStep(STEPS + 1))
    last = tmp_path / "checkpoints" / "last.ckpt"
    out = capsys.readouterr().out
    assert f"stopped by Ctrl-C after 1 finished epoch(s), step {STEPS + 1}" in out
    assert f"hydra.run.dir={tmp_path} ckpt_path=last" in out
    assert saved_step(last) == STEPS + 1
    assert not list(last.parent.glob(f".*{PARTIAL}"))


def test_ctrl_c_says_saved_only_once_last_ckpt_is_on_disk(tmp_path: Path, monkeypatch) -> None:
    """Catches the message (and the exit) racing the background write it announces: every
    write is slowed down, and the file is read the moment the message is printed."""
    monkeypatch.setattr(checkpoint_io, "write_atomically", SlowWrites(delay=0.3))
    last = tmp_path / "checkpoints" / "last.ckpt"
    on_disk_when_said: list[int] = []

    def reading_print(message: str, **kwargs) -> None:
        if "saved" in message:
            on_disk_when_said.append(saved_step(last) if last.is_file() else -1)

    monkeypatch.setattr(checkpoint_module, "print", reading_print, raising=False)
    fit_until_ctrl_c(tmp_path, CtrlCAfterStep(STEPS + 1))
    assert on_disk_when_said == [STEPS + 1]


def test_ctrl_c_after_divergence_keeps_the_last_good_checkpoint(tmp_path: Path, capsys) -> None:
    """Catches an interruption that saves a diverged model over the last good one (twin of
    test_nan_guard.py's slow Ctrl-C run)."""
    fit_until_ctrl_c(tmp_path, PoisonAtEpochStart(epoch=1), CtrlCAfterStep(STEPS + 1))
    out = capsys.readouterr().out
    assert (
        "stopped by KeyboardInterrupt; the model is not finite, so last.ckpt was not updated" in out
    )
    assert saved_step(tmp_path / "checkpoints" / "last.ckpt") == STEPS
