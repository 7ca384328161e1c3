"""The file lock under a run folder's lock (`RunFolder.lock` names the files): an OS lock via
`filelock`, released by the OS if the process dies; who holds it; and the DDP rank rule (ranks
other than 0 never take it)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from graytransfer.errors import UserError

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


@contextmanager
def held(lock_file: Path) -> Iterator[bool]:
    """Try the lock at once: yields True while this block holds it, False when another holder
    has it (this process through another handle included)."""
    lock = FileLock(str(lock_file), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()


@contextmanager
def exclusive(lock_file: Path, holder_file: Path, refusal: str) -> Iterator[None]:
    """Hold the lock for the block, its holder (`pid N on host`) written beside it; raise
    `RunFolderInUse(refusal)` at once when another process holds it."""
    with held(lock_file) as mine:
        if not mine:
            raise RunFolderInUse(refusal)
        try:
            holder_file.write_text(f"pid {os.getpid()} on {socket.gethostname()}\n")
            yield
        finally:
            holder_file.unlink(missing_ok=True)  # before the release: never a later holder's
