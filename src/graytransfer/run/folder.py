"""A run folder belongs to one process: an exclusive lock held while a run writes into it.

`run_lock(folder)` takes `<folder>/.run.lock` (an OS file lock via `filelock`, released by the OS
if the process dies) and writes the holder's pid to `<folder>/.run.lock.pid`. A second process
that asks for the same folder is refused at once with a `UserError` naming the folder and the
holder's pid. DDP ranks other than 0 re-run the same command in the same folder (Lightning's
launcher, SLURM tasks); they never take the lock: rank 0 holds it for the whole run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from graytransfer.errors import UserError

LOCK_FILE = ".run.lock"
PID_FILE = ".run.lock.pid"
#: environment variables a DDP launcher sets to a process' rank (any > 0: not the lock holder)
RANK_VARIABLES = ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID")


class RunFolderInUse(UserError):
    """Another process holds the run folder's lock; nothing may be written into the folder."""


def is_secondary_rank() -> bool:
    """True in a DDP rank other than 0 (per the launcher's environment variables)."""
    for name in RANK_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit() and int(value) > 0:
            return True
    return False


def lock_holder(folder: Path) -> str:
    """Who holds the lock on `folder`, as written by the holder (`pid 1234 on host`)."""
    try:
        text = (Path(folder) / PID_FILE).read_text().strip()
    except OSError:
        text = ""
    return text or "pid unknown"


@contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold the exclusive lock on run folder `folder` (created if missing) for the `with` block.

    Raises `RunFolderInUse` (a `UserError`) at once if another process holds it. Secondary DDP
    ranks pass through without locking. The lock is released when the block ends, also on an
    exception or SystemExit (and by the OS if the process is killed)."""
    if is_secondary_rank():
        yield
        return
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(folder / LOCK_FILE), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunFolderInUse(
            f"output folder '{folder}' is in use by another run ({lock_holder(folder)}); a run "
            "folder belongs to one process: leave hydra.run.dir unset for a new folder or pick "
            "another one"
        ) from None
    pid_file = folder / PID_FILE
    try:
        pid_file.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
        yield
    finally:
        pid_file.unlink(missing_ok=True)  # before the release: never a later holder's file
        lock.release()
