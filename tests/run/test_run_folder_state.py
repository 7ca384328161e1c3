"""RunFolder.state, one rule for every reader (resume, the finished-run guard, a sweep's
skip_finished): new, running, interrupted, finished, failed. Fast tests read folders made by
hand; the slow ones read folders that real runs left: finished, killed, failed and diverged."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from helpers.configs import TEST_NET, start_paused_train
from helpers.train_main import run_train_main

from graytransfer.errors import UserError
from graytransfer.run import RunFolder, RunState


def folder_with(tmp_path: Path, files: dict[str, str], folders: tuple[str, ...] = ()) -> RunFolder:
    """A run folder holding `files` (name -> text) and empty `folders`."""
    run = tmp_path / "run"
    run.mkdir()
    for name in folders:
        (run / name).mkdir()
    for name, text in files.items():
        (run / name).write_text(text)
    return RunFolder(run)


def test_a_missing_folder_or_one_with_only_hydras_start_files_is_new(tmp_path: Path) -> None:
    assert RunFolder(tmp_path / "nowhere").state is RunState.NEW
    folder = folder_with(tmp_path, {"train.log": "", ".run.lock": ""}, (".hydra",))
    assert folder.state is RunState.NEW


@pytest.mark.parametrize(
    ("record", "state"),
    [
        ({"status": "ok", "epochs": 3}, RunState.FINISHED),
        ({"status": "diverged"}, RunState.FINISHED),  # a result: never trained again
        ({"status": "failed", "error": "UserError: ..."}, RunState.FAILED),
        ({"epochs": 3}, RunState.FINISHED),  # an older record without status
    ],
)
def test_the_record_decides_finished_or_failed(
    tmp_path: Path, record: dict, state: RunState
) -> None:
    folder = folder_with(tmp_path, {"resume.json": "{}"})
    folder.write_record(record)
    assert folder.state is state and folder.record() == record
    assert folder.is_finished == (state is RunState.FINISHED)


def test_an_unreadable_record_counts_as_finished_and_is_never_overwritten(tmp_path: Path) -> None:
    """The one rule both old readers disagreed on (the guard said finished, the sweep not)."""
    folder = folder_with(tmp_path, {"metrics.json": '{"status": "ok", "ep'})
    assert folder.state is RunState.FINISHED and folder.record() is None
    with pytest.raises(UserError, match="already holds a finished run"):
        folder.check_not_finished()
    assert folder.write_failure({"status": "failed"}) is False
    assert folder.record_file.read_text() == '{"status": "ok", "ep'


def test_a_folder_with_a_run_and_no_record_is_interrupted_or_running(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"resume.json": "{}", "train.log": ""})
    assert folder.state is RunState.INTERRUPTED
    with folder.lock():  # held (here by this process; the state reads it as another holder)
        assert folder.state is RunState.RUNNING
    assert folder.state is RunState.INTERRUPTED
    assert not (folder.path / RunFolder.LOCK_HOLDER).exists()


def test_reading_the_state_creates_no_file(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"resume.json": "{}"})
    before = sorted(p.name for p in folder.path.iterdir())
    assert folder.state is RunState.INTERRUPTED
    assert sorted(p.name for p in folder.path.iterdir()) == before


def test_removing_an_unused_folder_never_takes_a_users_file(tmp_path: Path) -> None:
    """The delete re-checks, under the lock, that only Hydra's start files are there."""
    folder = folder_with(tmp_path, {"train.log": "", "notes.txt": "mine"}, (".hydra",))
    assert folder.remove_if_unused(also_allowed=["train.log"]) is False
    assert (folder.path / "notes.txt").read_text() == "mine"
    (folder.path / "notes.txt").unlink()
    with folder.lock():  # held by another handle: never removed
        assert folder.remove_if_unused(also_allowed=["train.log"]) is False
    assert folder.remove_if_unused(also_allowed=["train.log"]) is True
    assert not folder.path.exists()


def test_a_checkpoint_knows_its_run_folder(tmp_path: Path) -> None:
    folder = folder_with(tmp_path, {"resume.json": "{}"}, ("checkpoints",))
    folder.last_checkpoint.write_bytes(b"")
    assert RunFolder.of_checkpoint(folder.last_checkpoint) == folder
    loose = tmp_path / "model.ckpt"
    loose.write_bytes(b"")
    assert RunFolder.of_checkpoint(loose) is None


def test_the_split_files_are_written_whole(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    folder.write_split({"classes": ["a", "b"]}, "split,id\r\ntrain,x.png\r\n", ["bad.png"])
    assert json.loads((folder.path / RunFolder.CLASSES).read_text()) == {"classes": ["a", "b"]}
    assert (folder.path / RunFolder.SPLIT).read_bytes() == b"split,id\r\ntrain,x.png\r\n"
    assert (folder.path / RunFolder.BAD_FILES).read_text() == "bad.png\n"
    assert sorted(p.name for p in folder.path.iterdir()) == sorted(
        [RunFolder.CLASSES, RunFolder.SPLIT, RunFolder.BAD_FILES]
    )


#: a tiny run of timm's test EfficientNet: 2 epochs of 2 batches
TINY = [
    *TEST_NET,
    "data.batch_size=32",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "callbacks=[model_checkpoint,nan_guard]",
]


@pytest.mark.slow
def test_folders_left_by_finished_failed_and_diverged_sweep_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A real sweep (`train.py -m` in process, helpers.train_main): batch size 0 fails (twice),
    lr 1e30 diverges, the fourth job finishes."""
    sweep = tmp_path / "sweep"
    done = run_train_main(
        "-m",  # before the overrides: argparse takes no option after them
        *TINY,
        "data.batch_size=0,32",
        "optim.lr=0.001,1e30",
        f"hydra.sweep.dir={sweep}",
        f"paths.log_dir={tmp_path}/logs",
        root=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert done.code == 1, done.err[-3000:]  # a failed job: exit status 1
    states = {int(p.name): RunFolder(p).state for p in sweep.iterdir() if p.name.isdigit()}
    assert states == {
        0: RunState.FAILED,
        1: RunState.FAILED,
        2: RunState.FINISHED,
        3: RunState.FINISHED,
    }
    assert RunFolder(sweep / "2").record()["status"] == "ok"
    assert RunFolder(sweep / "3").record()["status"] == "diverged"


@pytest.mark.slow
def test_a_killed_run_is_running_while_alive_and_interrupted_after(tmp_path: Path) -> None:
    run = RunFolder(tmp_path / "run")
    marker = tmp_path / "epoch0.done"
    process = start_paused_train(tmp_path, marker, *TINY, f"hydra.run.dir={run.path}")
    try:
        assert run.state is RunState.RUNNING
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
    assert run.state is RunState.INTERRUPTED
    assert run.run_file()["experiment"] and not run.record_file.exists()
