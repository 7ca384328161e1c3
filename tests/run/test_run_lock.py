"""The run folder's lock is held for the whole run: from before the data is read, through every
stage of training and testing, until metrics.json is published; then it is free again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import lightning as L
import pytest
from filelock import FileLock, Timeout
from helpers.configs import TINY_RUN, compose_config

from graytransfer.run import RunFolder, build, pipeline

#: the hooks a run passes through in order, each of which must find the folder locked
HOOKS = [
    "setup fit",
    "on_train_start",
    "on_train_batch_start",
    "on_validation_end",
    "on_train_end",
    "setup test",
    "on_test_start",
    "on_test_batch_end",
    "on_test_end",
    "publish_record",
]


def locked(folder: Path) -> bool:
    """Whether another holder has `folder`'s run lock: a lock of our own (another file handle,
    as a second process would take it) cannot be acquired. Released at once if it was free."""
    probe = FileLock(str(folder / RunFolder.LOCK), timeout=0)
    try:
        probe.acquire()
    except Timeout:
        return True
    probe.release()
    return False


def holder(folder: Path) -> str | None:
    try:
        return (folder / RunFolder.LOCK_HOLDER).read_text().strip()
    except OSError:
        return None


class LockProbe(L.Callback):
    """Records, at each hook of `HOOKS`, whether the run folder is locked and by whom."""

    def __init__(self, folder: Path, seen: dict[str, tuple[bool, str | None]]) -> None:
        self.folder = folder
        self.seen = seen

    def look(self, hook: str) -> None:
        self.seen.setdefault(hook, (locked(self.folder), holder(self.folder)))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.look(f"setup {getattr(stage, 'value', stage)}")

    def on_train_start(self, trainer, pl_module) -> None:
        self.look("on_train_start")

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.look("on_train_batch_start")

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self.look("on_validation_end")

    def on_train_end(self, trainer, pl_module) -> None:
        self.look("on_train_end")

    def on_test_start(self, trainer, pl_module) -> None:
        self.look("on_test_start")

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, *args) -> None:
        self.look("on_test_batch_end")

    def on_test_end(self, trainer, pl_module) -> None:
        self.look("on_test_end")


def test_the_run_lock_is_held_from_setup_to_the_published_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Catches a lock released early (after the setup, after fit, before the test stage or
    before metrics.json is written): a probe that every stage of a real tiny run calls finds
    the folder's lock held by this process each time, and free once the run has returned."""
    run_dir = tmp_path / "run"
    seen: dict[str, tuple[bool, str | None]] = {}
    build_callbacks, publish_record = build.build_callbacks, pipeline.publish_record

    def with_probe(*args: Any, **kwargs: Any) -> list[L.Callback]:
        return [*build_callbacks(*args, **kwargs), LockProbe(run_dir, seen)]

    def probed_publish(*args: Any, **kwargs: Any) -> Any:
        seen.setdefault("publish_record", (locked(run_dir), holder(run_dir)))
        return publish_record(*args, **kwargs)

    monkeypatch.setattr(build, "build_callbacks", with_probe)
    monkeypatch.setattr(pipeline, "publish_record", probed_publish)
    info = pipeline.train(compose_config([*TINY_RUN, "logger=none"], run_dir))
    assert info["metrics"]["test/acc"] is not None and (run_dir / "metrics.json").is_file()
    assert list(seen) == HOOKS  # every stage ran, in order, and was probed
    mine = f"pid {os.getpid()} on {os.uname().nodename}"
    assert {hook: state for hook, state in seen.items() if state != (True, mine)} == {}
    assert not locked(run_dir) and holder(run_dir) is None  # released when the run returned
