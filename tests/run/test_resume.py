"""Resume after a crash: a real `python train.py` stopped by a real SIGTERM continues exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
from helpers.configs import TEST_NET, child_env, compose_config, train_command
from helpers.train_main import run_train_main

from graytransfer.errors import UserError
from graytransfer.run import RunFolder, find_unfinished, plan_resume, train

#: a tiny, deterministic 3-epoch run: timm's test EfficientNet at 16x16, 3 batches an epoch
TINY = [
    *TEST_NET,
    "data.batch_size=32",
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "callbacks=[model_checkpoint,nan_guard]",
    "seed=3",
]


def tiny_command(run_dir: Path, *extra: str) -> list[str]:
    return train_command(*TINY, f"hydra.run.dir={run_dir}", *extra)


def weights(ckpt: Path) -> dict[str, torch.Tensor]:
    return torch.load(ckpt, map_location="cpu", weights_only=True)["state_dict"]


def final_metrics(run_dir: Path) -> dict[str, float]:
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    return {k: v for k, v in metrics.items() if k.startswith(("test/", "val/", "train/"))}


def wandb_run_ids(run_dir: Path) -> list[str]:
    return sorted(p.name.rsplit("-", 1)[-1] for p in (run_dir / "wandb").glob("offline-run-*"))


@pytest.mark.slow
def test_sigterm_then_resume_matches_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The stopped run is a `train.py` child process; the uninterrupted run and the resume run
    `train.py` in this process (helpers.train_main), the former while the child starts."""
    in_process = {"root": tmp_path, "monkeypatch": monkeypatch, "capsys": capsys}
    stopped_dir = tmp_path / "stopped"
    marker = tmp_path / "epoch0.done"
    process = subprocess.Popen(
        tiny_command(
            stopped_dir,
            "+callbacks.pause._target_=helpers.resume_helpers.PauseAfterEpoch",
            f"+callbacks.pause.marker={marker}",
        ),
        env=child_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        whole = run_train_main(*TINY, f"hydra.run.dir={tmp_path / 'whole'}", **in_process)
        assert whole.code == 0, whole.err[-3000:]
    except BaseException:
        process.kill()
        process.communicate(timeout=60)
        raise
    deadline = time.monotonic() + 300
    while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert marker.exists(), process.communicate(timeout=60)[0][-3000:]
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 143, output[-3000:]
    assert "stopped by SIGTERM after 1 finished epoch" in output and "ckpt_path=last" in output
    assert (stopped_dir / "checkpoints" / RunFolder.LAST).is_file()
    assert not (stopped_dir / "metrics.json").exists()

    resumed = run_train_main(*TINY, f"hydra.run.dir={stopped_dir}", "ckpt_path=last", **in_process)
    assert resumed.code == 0, resumed.err[-3000:]
    assert final_metrics(stopped_dir) == final_metrics(tmp_path / "whole")
    for name in ("last.ckpt", "best.ckpt"):
        ours = weights(stopped_dir / "checkpoints" / name)
        theirs = weights(tmp_path / "whole" / "checkpoints" / name)
        assert ours.keys() == theirs.keys()
        for key in ours:
            assert torch.equal(ours[key], theirs[key]), f"{name}: {key} differs"
    # one W&B run, continued: both offline segments carry the id recorded in resume.json
    run_id = json.loads((stopped_dir / RunFolder.RUN_FILE).read_text())["wandb_id"]
    assert wandb_run_ids(stopped_dir) == [run_id, run_id]
    # a finished run is never resumed or overwritten
    with pytest.raises(UserError, match="already holds a finished run"):
        plan_resume(compose_config([*TINY, "ckpt_path=last"], stopped_dir))


def write_resumable_run(
    base: Path, name: str, key: str, finished: bool = False, age_s: float = 0
) -> Path:
    """A run folder as train.py leaves it: resume.json, last.ckpt and maybe metrics.json."""
    run = base / "train" / "runs" / name
    (run / "checkpoints").mkdir(parents=True)
    (run / RunFolder.RUN_FILE).write_text(json.dumps({"experiment": key, "wandb_id": name}))
    last = run / "checkpoints" / RunFolder.LAST
    last.write_bytes(b"checkpoint")
    stamp = time.time() - age_s
    os.utime(last, (stamp, stamp))
    if finished:
        (run / "metrics.json").write_text(json.dumps({"status": "ok"}))
    return last


def test_resume_auto_picks_the_newest_unfinished_run_of_the_same_experiment(tmp_path: Path) -> None:
    older = write_resumable_run(tmp_path, "older", "same", age_s=100)
    newer = write_resumable_run(tmp_path, "newer", "same", age_s=10)
    write_resumable_run(tmp_path, "finished", "same", finished=True)
    write_resumable_run(tmp_path, "other", "different")
    assert find_unfinished(tmp_path, "train", "same") == newer
    newer.unlink()
    assert find_unfinished(tmp_path, "train", "same") == older
    assert find_unfinished(tmp_path, "train", "unknown") is None


@pytest.mark.slow
def test_ctrl_c_mid_epoch_saves_last_and_the_run_continues(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    overrides = [*TINY, "logger=none", "trainer.max_epochs=2"]
    stop = ["+callbacks.ctrl_c._target_=helpers.resume_helpers.CtrlCAtStep"]
    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit):
            train(compose_config([*overrides, *stop], run_dir))
    finally:  # Lightning ignores SIGINT while it shuts down; give pytest its Ctrl-C back
        signal.signal(signal.SIGINT, handler)
    assert "stopped by Ctrl-C after 0 finished epoch(s), step 2" in capsys.readouterr().out
    last = run_dir / "checkpoints" / RunFolder.LAST
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 2
    assert not list((run_dir / "checkpoints").glob(".*.partial"))
    info = train(compose_config([*overrides, "ckpt_path=last"], run_dir))
    assert info["epochs"] == 2 and (run_dir / "metrics.json").exists()
    assert torch.load(last, map_location="cpu", weights_only=True)["global_step"] == 6
