"""A model that diverges stops the run, and a non-finite model never reaches a checkpoint."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
import timm
import torch
from helpers.configs import compose_config
from helpers.trained_fixture import TINY

from graytransfer.callbacks.nan_guard import first_non_finite
from graytransfer.errors import LossNotFinite
from graytransfer.run import failure_record, train

POISON = [
    "+callbacks.poison._target_=helpers.integrity_helpers.PoisonBatchNormAfterEpoch",
    "+callbacks.poison.epoch=0",
]


def finite_checkpoint(path: Path, step: int) -> None:
    """`path` holds the finite state saved after training step `step`."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["global_step"] == step
    floats = [v for v in state["state_dict"].values() if v.is_floating_point()]
    assert floats and all(torch.isfinite(v).all() for v in floats)


def test_first_non_finite_names_a_poisoned_buffer() -> None:
    model = timm.create_model("test_efficientnet", pretrained=False)
    assert first_non_finite(model) is None
    norm = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    norm.running_var.fill_(float("inf"))
    name = first_non_finite(model)
    assert name is not None and name.endswith("running_var")


@pytest.mark.slow
def test_non_finite_buffers_with_a_finite_loss_stop_the_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, "logger=none", *POISON], run_dir)
    with pytest.raises(LossNotFinite) as info:
        train(cfg)
    message = str(info.value)
    last = run_dir / "checkpoints" / "last.ckpt"
    assert "\n" not in message and "the model diverged at epoch 1, step 6" in message
    assert f"kept the last good checkpoint {last}" in message and "optim.lr" in message
    finite_checkpoint(last, step=3)
    finite_checkpoint(run_dir / "checkpoints" / "best.ckpt", step=3)
    assert not (run_dir / "metrics.json").exists()
    # the contract graytransfer.run.sweep keeps: inside a multirun such a job is `diverged`
    assert failure_record(cfg, info.value)["status"] == "diverged"


@pytest.mark.slow
def test_the_checkpoint_callback_alone_never_saves_a_non_finite_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, "logger=none", "callbacks=[model_checkpoint]", *POISON], run_dir)
    with pytest.raises(LossNotFinite) as info:
        train(cfg)
    assert "running_var holds NaN/inf values" in str(info.value)
    assert "was not written" in str(info.value)
    finite_checkpoint(run_dir / "checkpoints" / "last.ckpt", step=3)


@pytest.mark.slow
def test_ctrl_c_after_divergence_keeps_the_last_good_checkpoint(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    stop = [
        "+callbacks.ctrl_c._target_=helpers.resume_helpers.CtrlCAtStep",
        "+callbacks.ctrl_c.step=4",
    ]
    cfg = compose_config(
        [*TINY, "logger=none", "callbacks=[model_checkpoint]", *POISON, *stop], run_dir
    )
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):
            train(cfg)
    finally:  # Lightning ignores SIGINT while it shuts down; give pytest its Ctrl-C back
        signal.signal(signal.SIGINT, handler)
    assert "the model is not finite, so last.ckpt was not updated" in capsys.readouterr().out
    finite_checkpoint(run_dir / "checkpoints" / "last.ckpt", step=3)


#: the NaN-guard runs made small enough for the fast tier: batches of 16, one a stage, two epochs
#: (the poison lands at the start of the second)
SMALL = [
    "data.batch_size=16",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
]


def test_the_guard_itself_names_a_non_finite_buffer(tmp_path: Path) -> None:
    """Catches a guard whose parameter/buffer check is gone: with the checkpoint callback on,
    the checkpoint's own refusal ("best.ckpt was not written") would still stop the run with a
    message that also says "the model diverged", so this asserts what only the guard says (it
    stops the run before any save is tried, "training stopped without saving it")."""
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, *SMALL, "logger=none", *POISON], run_dir)
    with pytest.raises(LossNotFinite) as info:
        train(cfg)
    message = str(info.value)
    assert "holds NaN/inf values); training stopped without saving it" in message
    assert "running_var" in message and "was not written" not in message
    finite_checkpoint(run_dir / "checkpoints" / "last.ckpt", step=1)


def test_the_guard_alone_stops_a_run_whose_buffers_diverged(tmp_path: Path) -> None:
    """Catches the same bug without a checkpoint callback to mask it: the guard alone must stop
    a run whose loss stays finite while a BatchNorm buffer holds inf (otherwise it finishes)."""
    cfg = compose_config(
        [*TINY, *SMALL, "logger=none", "callbacks=[nan_guard]", *POISON], tmp_path / "run"
    )
    with pytest.raises(LossNotFinite, match=r"running_var holds NaN/inf values\); training stop"):
        train(cfg)
    assert not (tmp_path / "run" / "metrics.json").exists()
