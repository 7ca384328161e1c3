"""Run integrity: a run folder belongs to one process, a run that trains nothing or cannot train
is refused before any work, a disabled progress bar works, the summary names the best value."""

from __future__ import annotations

import io
import os
import signal
from pathlib import Path

import pytest
from helpers.configs import FAST, compose_config, start_paused_train
from helpers.errors import NO_DATA, user_message
from helpers.train_main import run_train_main
from helpers.trained_fixture import TINY
from rich.console import Console

from graytransfer.run import RunFolder, RunFolderInUse, print_summary, train


def in_use(folder: Path, pid: int) -> str:
    return (
        f"output folder '{folder}' is in use by another run (pid {pid} on "
        f"{os.uname().nodename}); a run folder belongs to one process: leave hydra.run.dir "
        "unset for a new folder or pick another one"
    )


@pytest.mark.slow
def test_a_second_process_in_the_same_run_folder_stops_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The first run is a `train.py` child process; the second is this test's process running
    `train.py` in process (helpers.train_main), against the first's lock."""
    run_dir = tmp_path / "run"
    marker = tmp_path / "epoch1.done"
    command = [*TINY, "logger=none", "trainer.max_epochs=3", f"hydra.run.dir={run_dir}"]
    first = start_paused_train(
        tmp_path,
        marker,
        *command,
        epoch=1,  # epoch 0's checkpoints are written: a resume could start
    )
    try:
        before = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if ".hydra" not in p.parts}
        for extra in ([], ["ckpt_path=last"]):  # a new run, and a resume of the running one
            second = run_train_main(
                *command, *extra, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys
            )
            assert second.code == 2, second.err[-3000:]
            last_line = second.err.strip().splitlines()[-1]
            assert last_line == f"graytransfer: error: {in_use(run_dir, first.pid)}"
        after = {p: p.stat().st_mtime_ns for p in run_dir.rglob("*") if ".hydra" not in p.parts}
        changed = {p for p in after if before.get(p) != after[p]} - {run_dir / "train.log"}
        assert not changed, changed  # Hydra's own .hydra/ and train.log aside
        assert not (run_dir / "metrics.json").exists()
    finally:
        first.send_signal(signal.SIGTERM)
        output, _ = first.communicate(timeout=120)
    assert first.returncode == 143, output[-3000:]
    assert not (run_dir / RunFolder.LOCK_HOLDER).exists()
    with RunFolder(run_dir).lock():  # the OS released it with the process
        pass


def test_a_locked_folder_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*FAST, *TINY[:3], "logger=none"], run_dir)
    with RunFolder(run_dir).lock():  # another holder (this process, through another file handle)
        message = user_message(lambda: train(cfg))
        assert message == in_use(run_dir, os.getpid())
        assert sorted(p.name for p in run_dir.iterdir()) == [RunFolder.LOCK, RunFolder.LOCK_HOLDER]


def test_a_resume_of_a_locked_folder_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"not read before the lock")
    (run_dir / "resume.json").write_text('{"wandb_id": "abc"}')
    cfg = compose_config([*FAST, *TINY[:3], "logger=none", "ckpt_path=last"], run_dir)
    with RunFolder(run_dir).lock():
        assert user_message(lambda: train(cfg)) == in_use(run_dir, os.getpid())


def test_ddp_ranks_above_zero_pass_the_lock_rank_zero_does_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with RunFolder(tmp_path).lock():
        for name in ("LOCAL_RANK", "RANK", "NODE_RANK", "SLURM_PROCID"):
            monkeypatch.setenv(name, "1")
            with RunFolder(
                tmp_path
            ).lock():  # Lightning's re-launched rank: the same command and folder
                pass
            monkeypatch.setenv(name, "0")
            with (
                pytest.raises(RunFolderInUse, match="in use by another run"),
                RunFolder(tmp_path).lock(),
            ):
                pass


def test_the_lock_is_released_when_the_run_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunFolder(tmp_path).lock():
        assert (tmp_path / RunFolder.LOCK_HOLDER).read_text().startswith(f"pid {os.getpid()} ")
        raise RuntimeError("the run failed")
    assert not (tmp_path / RunFolder.LOCK_HOLDER).exists()
    with RunFolder(tmp_path).lock():
        pass


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("trainer.max_epochs=0", "trainer.max_epochs=0"),
        ("trainer.max_steps=0", "trainer.max_steps=0"),
        ("trainer.limit_train_batches=0", "trainer.limit_train_batches=0"),
        ("trainer.limit_train_batches=0.0", "trainer.limit_train_batches=0.0"),
    ],
)
def test_a_config_that_trains_no_step_is_refused_before_any_work(
    tmp_path: Path, override: str, key: str
) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*NO_DATA, f"data.root={tmp_path / 'nowhere'}", override], run_dir)
    message = user_message(lambda: train(cfg))
    assert message.startswith(f"{key} trains no step") and "untrained model" in message
    assert not run_dir.exists()


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.lr=-1", "optim.lr=-1"),
        ("optim.lr=nan", "optim.lr=nan"),
        ("optim.lr=0", "optim.lr=0"),
        ("optim.lr=fast", "optim.lr=fast"),
        ("optim.weight_decay=-0.1", "optim.weight_decay=-0.1"),
        ("+optim.betas=[0.9,1.0]", "optim.betas[1]=1.0"),
        ("+optim.betas=[0.9]", "optim.betas=[0.9]"),
        ("scheduler.warmup_fraction=1.5", "scheduler.warmup_fraction=1.5"),
        ("scheduler.warmup_fraction=-0.1", "scheduler.warmup_fraction=-0.1"),
    ],
)
def test_optimizer_and_schedule_values_are_checked_before_the_data_scan(
    tmp_path: Path, override: str, key: str
) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*NO_DATA, f"data.root={tmp_path / 'nowhere'}", override], run_dir)
    message = user_message(lambda: train(cfg))
    assert message.startswith(f"{key} is not valid; use ")
    assert not run_dir.exists()


@pytest.mark.slow
def test_a_disabled_progress_bar_with_the_default_callbacks_trains(tmp_path: Path) -> None:
    # FAST without its `~callbacks.rich_progress_bar`: the default callbacks keep the Rich bar
    overrides = [o for o in FAST if "rich_progress_bar" not in o]
    info = train(compose_config([*overrides, *TINY[:3], "logger=none"], tmp_path / "run"))
    assert info["status"] == "ok" and (tmp_path / "run" / "metrics.json").exists()
    # fast_dev_run saves no checkpoint: the monitored value is the last epoch's, and says so
    assert info["monitor"]["best_from"] == "last epoch"


def test_the_summary_shows_the_best_value_apart_from_the_last_epoch() -> None:
    record = {
        "model": "test_efficientnet",
        "metrics": {"val/acc": 0.7, "val/loss": 0.9, "test/acc": 0.85},
        "monitor": {
            "metric": "val/acc",
            "mode": "max",
            "best": 0.9,
            "best_from": "best checkpoint",
        },
        "best_checkpoint": "run/checkpoints/best.ckpt",
        "output_dir": "run",
    }
    out = io.StringIO()
    print_summary(record, Console(file=out, width=200))
    cells = [line.split("│")[1:-1] for line in out.getvalue().splitlines()]
    rows = {key.strip(): value.strip() for key, value in (c for c in cells if len(c) == 2)}
    assert rows["val/acc (best epoch, the checkpoint tested)"] == "0.9000"
    assert rows["val/acc (last epoch)"] == "0.7000"
    assert rows["val/loss (last epoch)"] == "0.9000" and rows["test/acc"] == "0.8500"
    assert "val/acc" not in rows  # no unlabelled validation value
