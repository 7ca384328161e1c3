"""A run's start: Hydra's files written under the run's lock, and no stub folder left by a start
that fails.

- `conf/train.yaml` sets `hydra.output_subdir: null`, so Hydra writes nothing into the run folder
  but its log file before the run holds the folder's lock (`RunFolder.lock`);
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from graytransfer.cli import EXISTING_FOLDERS
from graytransfer.config import hydra_runtime, in_multirun
from graytransfer.console import log_files
from graytransfer.run.folder import RunFolder
from graytransfer.run.lock import RunFolderInUse, is_secondary_rank


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
    """True when `folder` holds nothing a run wrote: only what Hydra writes at a job's start (its
    log file, `.hydra/`) and lock files (`RunFolder.holds_no_run`)."""
    return RunFolder(folder).holds_no_run(also_allowed=_log_names(Path(folder)))


def remove_folder(folder: Path, logs: set[str] | None = None) -> bool:
    """Delete run folder `folder` (closing the log files in it) if it holds nothing but Hydra's
    start files and `logs` (default: the configured log files in it) and no other process holds
    its lock; True if it was deleted."""
    run_folder = RunFolder(folder)
    if not run_folder.path.is_dir() or run_folder.is_locked():
        return False
    logs = _log_names(run_folder.path) if logs is None else logs
    _close_log_files(run_folder.path)
    return run_folder.remove_if_unused(also_allowed=logs)


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
    logs = _log_names(folder)
    unused = holds_no_run(folder)  # before the log files leave it
    for handler in log_files():
        if Path(handler.baseFilename).parent == folder.resolve():
            handler.close()  # reopened (append mode) at the next message
            handler.baseFilename = os.path.abspath(run_dir / Path(handler.baseFilename).name)
    if unused:
        remove_folder(folder, logs)


def save_hydra_config(cfg: DictConfig, folder: RunFolder) -> None:
    """Under `@hydra.main`: the job's config, Hydra's config and the command-line overrides as
    `<folder>/.hydra/{config,hydra,overrides}.yaml` (call it while holding the folder's lock).
    Outside Hydra, nothing."""
    hydra = hydra_runtime()
    if hydra is None:
        return
    files = {
        "config.yaml": OmegaConf.to_yaml(cfg),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.create({"hydra": hydra})),
        "overrides.yaml": OmegaConf.to_yaml(hydra.overrides.task),
    }
    folder.save_hydra_config(files, subdir=str(hydra.output_subdir or RunFolder.HYDRA))
