"""`python train.py ARGS` (or `python -m graytransfer.tools.X ARGS`) inside the test process: the
real entry point (`graytransfer.cli.hydra_entry` with `@hydra.main`: Hydra's run folder, its log
file, its callbacks and `exit_on_user_error`), without starting a Python process that imports
torch again.

What Hydra leaves behind in the process (its runtime config, the root logger's handlers and
level, the folders `OutputFolderCheck` saw existing) is put back afterwards, so later tests in
the same worker see a process that never ran Hydra.
"""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from hydra.core.hydra_config import HydraConfig

from graytransfer.cli import EXISTING_FOLDERS
from helpers.configs import REPO


def train_module() -> ModuleType:
    """The repository's `train.py`, imported as a module (its `main`, `train_job`,
    `train_or_test`)."""
    spec = importlib.util.spec_from_file_location("train_py_under_test", REPO / "train.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class Exit:
    """How `train.main()` ended: its exit status (0 when it returned) and what it printed."""

    code: int
    out: str
    err: str


def run_train_main(
    *args: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Exit:
    """`train.py ARGS` in process (`run_main` with train.py's `main`)."""
    return run_main(train_module().main, *args, root=root, monkeypatch=monkeypatch, capsys=capsys)


def run_main(
    main: Callable[[], object],
    *args: str,
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Exit:
    """An entry point's `main` with command line ARGS in process, outputs under `root`
    (GRAYTRANSFER_ROOT), W&B offline; the exit status (SystemExit's code, 0 when main returned)
    and the captured stdout/stderr."""
    monkeypatch.setenv("GRAYTRANSFER_ROOT", str(root))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setattr(sys, "argv", ["main", *args])
    logger = logging.getLogger()
    handlers, level = list(logger.handlers), logger.level
    existing = set(EXISTING_FOLDERS)
    capsys.readouterr()
    try:
        main()
        code = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else 1
    finally:
        for handler in [h for h in logger.handlers if h not in handlers]:
            logger.removeHandler(handler)
            handler.close()
        for handler in handlers:
            if handler not in logger.handlers:
                logger.addHandler(handler)
        logger.setLevel(level)
        HydraConfig.instance().cfg = None
        EXISTING_FOLDERS.intersection_update(existing)
    captured = capsys.readouterr()
    return Exit(code, captured.out, captured.err)
