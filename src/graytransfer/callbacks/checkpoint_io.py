"""How checkpoint files reach the disk: once, atomically, and optionally off the training thread.

`AtomicCheckpointIO` is the Lightning checkpoint IO plugin `ResumableCheckpoint` installs in
place of Lightning's default (`TorchCheckpointIO`). Lightning's default serialises a checkpoint
into memory, writes the bytes to a temporary file (in the system's temp folder, so the final
move may be a second copy across file systems) and moves it into place. Here `torch.save`
streams the checkpoint straight into a new hidden partial file beside its target, which is then
fsynced and renamed over the target (`graytransfer.atomic.atomic_file`): one write, and a crash
at any moment leaves either the previous file or the new one, never a truncated one. A failed
write removes its partial file (only the file it created); one left by a killed process is
removed by the next run in the folder (`writer_is_gone`: only names this module gives). The
rename replaces the path its caller names and nothing else; `ModelCheckpoint` names a new file
or its own previous one (a name another file holds becomes `last-v1.ckpt`, Lightning's version
counter), so a user's file in the checkpoint folder is never replaced.

With `background=True` the caller's thread only takes a snapshot of the checkpoint's tensors
(a copy on their own device; `bench.checkpoint_write` measures what the training thread still
pays) and one worker thread serialises and writes it. At most one write is in flight: the next
save, a removal, a load and `teardown` (which Lightning calls when `fit` ends) first wait for
it, and a failed background write raises its own error there, so no failure goes unseen and the
file under the target name is always the previous whole one. The snapshot stays on the tensors'
device until its write ends (on a GPU: one more copy of the weights and optimiser state). Under
DDP only rank 0 writes; the other ranks next read a checkpoint after one of Lightning's barriers
(every `fit` and `test` passes one before it restores a checkpoint), which rank 0 reaches only
after its `teardown` waited for the write.
"""

from __future__ import annotations

import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning_utilities.core.apply_func import apply_to_collection

from graytransfer.atomic import atomic_file, writer_pid

PARTIAL = ".partial"


def writer_is_gone(partial: Path) -> bool:
    """True when `partial` is a partial checkpoint file this project writes (`write_atomically`'s
    name, with its writer's pid) and that writer is no longer running, or is this process (a
    write of ours that failed): only then may the file be removed. Any other file is not ours."""
    pid = writer_pid(partial, PARTIAL)
    if pid is None:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # a running process of another user
        return False
    return False


def write_atomically(checkpoint: dict[str, Any], path: Path) -> None:
    """`torch.save` `checkpoint` into a new partial file beside `path`, fsync it and rename it
    to `path` (`graytransfer.atomic.atomic_file`). On any failure only the partial file is
    removed and the file already at `path` stays."""
    try:
        with atomic_file(path, durable=True, suffix=PARTIAL) as handle:
            torch.save(checkpoint, handle)
    except OSError as error:
        raise OSError(
            error.errno,
            f"{error.strerror or error} while writing the checkpoint {path}; the file already "
            f"there (if any) is unchanged",
        ) from error


def snapshot(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """A copy of `checkpoint` that later training cannot change: every tensor copied (on its
    own device), every list, tuple and dict rebuilt."""
    return apply_to_collection(checkpoint, torch.Tensor, lambda t: t.detach().clone())


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's `TorchCheckpointIO` writing each checkpoint once and atomically
    (`write_atomically`); `background=True` writes in one worker thread after a snapshot (see
    the module's docstring for when it waits and where a failed write is raised)."""

    def __init__(self, background: bool = False) -> None:
        self.background = background
        self._executor: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(
                f"{type(self).__name__} takes no storage_options (got {storage_options!r}); "
                "pass a CheckpointIO of your own to the Trainer's `plugins` to use them"
            )
        self.wait()  # one write in flight at most; a failed earlier write raises here
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        if not self.background:
            write_atomically(checkpoint, path)
            return
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="checkpoint")
        self._pending = self._executor.submit(write_atomically, snapshot(checkpoint), path)

    def wait(self) -> None:
        """Return once the write in flight (if any) is on disk; raise its error if it failed."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    @property
    def writing(self) -> bool:
        """True while a background write has not finished."""
        return self._pending is not None and not self._pending.done()

    def load_checkpoint(self, path: str | Path, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.wait()
        return super().load_checkpoint(path, *args, **kwargs)

    def remove_checkpoint(self, path: str | Path) -> None:
        """Remove `path` once the write in flight succeeded (a checkpoint that replaces the one
        removed is on disk before the old one goes)."""
        self.wait()
        super().remove_checkpoint(path)

    def teardown(self) -> None:
        """Wait for the write in flight (raising its error) and stop the worker thread."""
        try:
            self.wait()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
                self._executor = None


def wait_for_checkpoint_writes(trainer: L.Trainer) -> None:
    """Return once the checkpoint write `trainer` has in flight (if any) is on disk; raise its
    error if it failed. A no-op for a checkpoint IO other than `AtomicCheckpointIO`."""
    writer = trainer.strategy.checkpoint_io
    if isinstance(writer, AtomicCheckpointIO):
        writer.wait()
