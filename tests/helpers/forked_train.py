"""`python train.py ARGS` as a fork of the test process: the same run, without a new Python
process importing torch, Lightning and timm again (about 10 s of CPU here, per run).

The fork runs train.py's own entry (`main`: Hydra's run folder and logging, `exit_on_user_error`)
with `sys.argv` set as the shell would set it, in the repository, with `child_env`'s environment.
Whatever a DDP trainer's launcher starts from there is what `python train.py` starts: Lightning
re-runs `sys.argv` (`python <repo>/train.py ARGS`, Hydra's run folder added) for ranks 1..N-1,
and its process observer ends the fork when a rank fails, as it ends `python train.py`. The fork
and every process it starts write into one pipe; the run is over when all of them have closed it
(as `subprocess.run(..., capture_output=True)` waits), or at the timeout, which kills the fork.

Nothing the run sets (environment, working folder, `sys.argv`, Hydra's state, a DDP process
group, signal handlers) reaches the test process: the fork ends with `os._exit`. The other way,
the fork starts from the test process as it is: its imported modules, their caches and the
test's warning filters, and a bug planted in memory (helpers/plant_plugin.py) reaches rank 0 (a
rank Lightning starts is a new process, and is not planted).
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from helpers.configs import REPO, child_env
from helpers.train_main import train_module


@dataclass
class Finished:
    """How the forked `train.py` ended: its exit status (-N: killed by signal N) and what it and
    the processes it started printed, stdout and stderr together, in order."""

    code: int
    output: str


def forked_train(*args: str, root: Path, timeout_s: float = 600.0) -> Finished:
    """`python train.py ARGS` with outputs under `root` (`child_env`), in a fork of this process;
    it and the ranks it starts keep this process's one torch thread (tests/conftest.py)."""
    sys.stdout.flush()
    sys.stderr.flush()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the fork: never returns
        os.close(read_end)
        os._exit(_run_train(list(args), root, write_end))
    os.close(write_end)
    output, timed_out = _read_until_closed(read_end, time.monotonic() + timeout_s)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    text = output.decode(errors="replace")
    if timed_out:
        text += f"\n[forked_train: killed after {timeout_s:.0f} s]"
    return Finished(os.waitstatus_to_exitcode(status), text)


def _read_until_closed(fd: int, deadline: float) -> tuple[bytes, bool]:
    """Everything written into the pipe `fd` until every writer has closed it; (so far, True) at
    `deadline`."""
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return b"".join(chunks), True
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return b"".join(chunks), False
            chunks.append(chunk)
    finally:
        os.close(fd)


def _run_train(args: list[str], root: Path, out: int) -> int:
    """In the fork: stdin from /dev/null, stdout and stderr into `out`, then train.py's `main` as
    `python train.py ARGS` runs it; its exit status."""
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.close(out)
        sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - the fork's own
        sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
        os.environ.update(child_env(root))
        os.chdir(REPO)
        sys.argv = [str(REPO / "train.py"), *args]
        # as for `python train.py`: Lightning re-runs sys.argv[0], not `python -m pytest`
        sys.modules["__main__"].__spec__ = None
        train_module().main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else int(done.code is not None)
    except BaseException:  # noqa: BLE001 - reported as the exit status and traceback of the run
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return code
