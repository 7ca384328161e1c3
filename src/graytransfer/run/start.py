"""A run folder holds a run, or nothing: Hydra's files written under the run's lock, and no stub
folder left by a start that fails.

- `conf/train.yaml` sets `hydra.output_subdir: null`, so Hydra writes nothing into the run folder
  but its log file before the run holds the folder's lock (`graytransfer.run.lock`);
  `save_hydra_config` then writes `.hydra/config.yaml`, `hydra.yaml` and `overrides.yaml` (what
  Hydra would have written) under the lock. A second process aimed at a folder in use is refused
  before it writes anything: the first run's saved config stays its own.
- `removed_if_start_fails(folder)`: a single run whose start fails before training (a guard, a
  bad config value, unreadable data), in a folder that held nothing of a run when it began (only
  Hydra's log file), leaves no folder behind: the folder is deleted, the one-line error says
  why. A multirun job keeps its folder, where `graytransfer.run.sweep` records the failure
  (`metrics.json`, `status: failed`); a folder that held a run before (a resume) is never
  touched.
- `leave_unused(folder, run_dir)`: a run that continues in its checkpoint's folder moves the log
  there and removes the folder Hydra made for it, if nothing else is in it.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout
from omegaconf import DictConfig, OmegaConf

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import EXISTING_FOLDERS
from graytransfer.console import log_files
from graytransfer.run.lock import LOCK_FILE, PID_FILE, RunFolderInUse, is_secondary_rank
from graytransfer.run.sweep import hydra_runtime, in_multirun

#: where Hydra keeps a job's config (`hydra.output_subdir`'s usual value)
HYDRA_SUBDIR = ".hydra"


class Start:
    """Whether the run has begun training (set by the pipeline just before `Trainer.fit`)."""

    def __init__(self) -> None:
        self.training = False

    def begin_training(self) -> None:
        self.training = True


def _log_names(folder: Path) -> set[str]:
    """Names of the configured log files that live in `folder`."""
    folder = folder.resolve()
    return {Path(h.baseFilename).name for h in log_files() if Path(h.baseFilename).parent == folder}


def holds_no_run(folder: Path) -> bool:
    """True when `folder` is missing or holds only what Hydra writes at a job's start (its log
    file, `.hydra/`) and lock files: nothing a run wrote."""
    folder = Path(folder)
    if not folder.is_dir():
        return not folder.exists()
    allowed = {LOCK_FILE, PID_FILE, HYDRA_SUBDIR} | _log_names(folder)
    return all(entry.name in allowed for entry in folder.iterdir())


def remove_folder(folder: Path) -> bool:
    """Delete run folder `folder` (closing the log files in it) unless another process holds its
    lock; True if it was deleted."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        return False
    try:
        _close_log_files(folder)
        shutil.rmtree(folder)
    finally:
        lock.release()
    return True


def _close_log_files(folder: Path) -> None:
    root = logging.getLogger()
    for handler in log_files():
        if Path(handler.baseFilename).parent == folder.resolve():
            root.removeHandler(handler)
            handler.close()


#: the `Start` of the outermost `removed_if_start_fails` block running now
_active: Start | None = None


@contextmanager
def removed_if_start_fails(folder: Path) -> Iterator[Start]:
    """Run the block; if it raises before `Start.begin_training()` in a single run on rank 0,
    and `folder` held no run when the block began (`holds_no_run`) and Hydra made it (not a
    folder that existed before the command, `graytransfer.cli.EXISTING_FOLDERS`), delete
    `folder`. A refusal because another process holds the folder (`RunFolderInUse`) never
    deletes it.

    Blocks nest (`train.py` around its checks, `train()` around its own): an inner block hands
    out the outer block's `Start`, and only the outer one cleans up."""
    global _active
    if _active is not None:
        yield _active
        return
    folder = Path(folder)
    unused = holds_no_run(folder) and folder.resolve() not in EXISTING_FOLDERS
    start = _active = Start()
    try:
        yield start
    except RunFolderInUse:
        raise
    except BaseException:
        if unused and not start.training and not is_secondary_rank() and not in_multirun():
            remove_folder(folder)
        raise
    finally:
        _active = None


def leave_unused(folder: Path, run_dir: Path) -> None:
    """The run continues in `run_dir`, not in `folder` (the one Hydra made): the log files move
    to `run_dir` (appended to its own) and `folder` is deleted if it holds no run."""
    folder, run_dir = Path(folder), Path(run_dir)
    if folder.resolve() == run_dir.resolve() or is_secondary_rank():
        return
    unused = holds_no_run(folder)  # before the log files leave it
    for handler in log_files():
        if Path(handler.baseFilename).parent == folder.resolve():
            handler.close()  # reopened (append mode) at the next message
            handler.baseFilename = os.path.abspath(run_dir / Path(handler.baseFilename).name)
    if unused:
        remove_folder(folder)


def save_hydra_config(cfg: DictConfig, folder: Path) -> None:
    """Under `@hydra.main` and on rank 0: the job's config, Hydra's config and the command-line
    overrides as `<folder>/.hydra/{config,hydra,overrides}.yaml`, each written atomically (call
    it while holding the folder's lock). Outside Hydra, nothing."""
    hydra = hydra_runtime()
    if hydra is None or is_secondary_rank():
        return
    target = Path(folder) / str(hydra.output_subdir or HYDRA_SUBDIR)
    for name, node in (
        ("config.yaml", cfg),
        ("hydra.yaml", OmegaConf.create({"hydra": hydra})),
        ("overrides.yaml", hydra.overrides.task),
    ):
        write_text_atomic(target / name, OmegaConf.to_yaml(node))
