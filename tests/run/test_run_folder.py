"""A run folder holds a run or nothing: no stub left by a failed start, Hydra's config files
written only under the folder's lock, a resume's log moved to the run it continues."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import REPO, TEST_NET, child_env, compose_config
from helpers.errors import user_message
from helpers.train_main import run_train_main

from graytransfer.run import RunFolder, leave_unused, train

TINY = [
    *TEST_NET,
    "logger=none",
    "extras.print_config=false",
]


def folder_data(tmp_path: Path) -> list[str]:
    """A folder data set without class folders: refused when it is scanned (after the lock)."""
    (tmp_path / "images").mkdir()
    return ["data=folder", f"data.root={tmp_path / 'images'}", "data.num_workers=0"]


def test_a_start_that_fails_on_its_data_removes_the_folder_it_made(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    cfg = compose_config([*TINY, *folder_data(tmp_path)], run_dir)
    assert "holds no class folders" in user_message(lambda: train(cfg))
    assert not run_dir.exists()


def test_a_failed_resume_never_removes_the_run_it_resumes(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "last.ckpt").write_bytes(b"an earlier run's checkpoint")
    (run_dir / "resume.json").write_text("{}")
    cfg = compose_config([*TINY, *folder_data(tmp_path), "ckpt_path=last"], run_dir)
    user_message(lambda: train(cfg))
    assert (run_dir / "checkpoints" / "last.ckpt").read_bytes() == b"an earlier run's checkpoint"


def test_a_resume_moves_its_log_to_the_run_and_removes_the_folder_hydra_made(
    tmp_path: Path,
) -> None:
    made, run_dir = tmp_path / "made", tmp_path / "run"
    made.mkdir()
    run_dir.mkdir()
    (run_dir / "train.log").write_text("the first segment\n")
    handler = logging.FileHandler(made / "train.log")  # as Hydra's job logging opens it
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        leave_unused(made, run_dir)
        logging.getLogger("graytransfer").warning("the second segment")
    finally:
        root.removeHandler(handler)
        handler.close()
    assert not made.exists()
    assert (run_dir / "train.log").read_text() == "the first segment\nthe second segment\n"


@pytest.mark.slow
def test_train_py_leaves_no_folder_when_its_start_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hydra makes the folder (and its train.log) before the run starts; a start that fails
    before training removes it (`train.py` in process, helpers.train_main)."""
    args = [*TINY, *folder_data(tmp_path)]
    done = run_train_main(*args, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.code == 2 and "holds no class folders" in done.err, done.err[-3000:]
    runs = tmp_path / "outputs" / "train" / "runs"
    assert not list(runs.iterdir()) if runs.exists() else True


@pytest.mark.slow
def test_a_process_refused_a_folder_in_use_leaves_its_config_files_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    first = {name: f"the first run's {name}\n" for name in ("config.yaml", "overrides.yaml")}
    for name, text in first.items():
        (run_dir / ".hydra" / name).write_text(text)
    with RunFolder(run_dir).lock():  # the first run, still running
        done = subprocess.run(
            [sys.executable, str(REPO / "train.py"), *TINY, f"hydra.run.dir={run_dir}", "seed=7"],
            env=child_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=600,
        )
    assert done.returncode == 2 and "is in use by another run" in done.stderr, done.stderr
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").iterdir()} == first
    assert (run_dir / ".hydra").is_dir()  # and the folder is never removed
