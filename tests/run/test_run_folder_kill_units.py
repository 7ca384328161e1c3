"""Fast twin of tests/run/test_run_folder_state.py's slow killed-run test: a small child process
(no training) holds a run folder's real lock and is killed with SIGKILL. While it lives the
folder is `running` (and a second holder is refused at once); after the kill, with its holder
file and lock file left behind, it is `interrupted` and can be taken again."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from graytransfer.run import RunFolder, RunState
from graytransfer.run.lock import RunFolderInUse

#: the child: take the folder's lock, say so, wait to be killed
HOLD = """
import sys, time
from graytransfer.run.folder import RunFolder
with RunFolder(sys.argv[1]).lock():
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_killed_lock_holder_leaves_an_interrupted_folder(tmp_path: Path) -> None:
    folder = RunFolder(tmp_path / "run")
    folder.path.mkdir()
    folder.write_run_file({"experiment": "x"})
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder.path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert folder.state is RunState.RUNNING
        with pytest.raises(RunFolderInUse, match=f"pid {child.pid}"), folder.lock():
            pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=60)
    deadline = time.monotonic() + 10  # the OS releases the lock with the process
    while folder.state is RunState.RUNNING and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (folder.path / RunFolder.LOCK_HOLDER).exists()  # left by the kill: no proof of life
    assert folder.state is RunState.INTERRUPTED
    with folder.lock():
        assert folder.state is RunState.RUNNING
    assert folder.state is RunState.INTERRUPTED
