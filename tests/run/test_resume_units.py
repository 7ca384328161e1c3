"""Fast twin of tests/run/test_resume.py's slow SIGTERM run: in process, a tiny run stopped the
way Lightning stops on SIGTERM (after epoch 0's checkpoints) and continued with
`ckpt_path=last` ends with the same metrics and the same weights as an uninterrupted run. It
catches a resume that loses the RNG states, the optimizer or the epoch counter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.configs import TEST_NET, compose_config

from graytransfer.run import RunFolder, train

#: timm's test EfficientNet at 16x16, 2 epochs of 2 batches, deterministic
TINY = [
    *TEST_NET,
    "data.batch_size=16",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "callbacks=[model_checkpoint,nan_guard]",
    "logger=none",
    "seed=3",
]

SIGTERM = [
    "+callbacks.sigterm._target_=helpers.interrupt_helpers.SigtermAtEpochStart",
    "+callbacks.sigterm.epoch=1",
]


def metrics(run_dir: Path) -> dict[str, float]:
    record = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    return {k: v for k, v in record.items() if k.startswith(("test/", "val/", "train/"))}


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def test_a_run_stopped_by_sigterm_and_resumed_matches_an_uninterrupted_run(
    tmp_path: Path, capsys
) -> None:
    whole, stopped = tmp_path / "whole", tmp_path / "stopped"
    train(compose_config(TINY, whole))
    with pytest.raises(SystemExit) as stop:
        train(compose_config([*TINY, *SIGTERM], stopped))
    assert stop.value.code == 143
    out = capsys.readouterr().out
    assert "stopped by SIGTERM after 1 finished epoch(s)" in out and "ckpt_path=last" in out
    assert RunFolder(stopped).last_checkpoint.is_file()
    assert not (stopped / "metrics.json").exists()

    info = train(compose_config([*TINY, "ckpt_path=last"], stopped))
    assert info["epochs"] == 2
    assert metrics(stopped) == metrics(whole)
    for name in ("last.ckpt", "best.ckpt"):
        ours, theirs = (
            weights(stopped / "checkpoints" / name),
            weights(whole / "checkpoints" / name),
        )
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[key], theirs[key]) for key in ours), name
