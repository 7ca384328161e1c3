"""Where a run's messages go: the terminal and, under Hydra, the run's log file (`train.log`).

Standard library only (no torch, no Lightning), so every layer may use it.

Hydra's job logging (`conf/hydra/default.yaml`) gives the root logger a console handler (the
message alone) and a file handler (`<run folder>/<task_name>.log`, with time and source). Three
things used to bypass it, which left `train.log` empty:

- Lightning gives its loggers their own stderr handlers at import (and, when imported before
  logging is configured, stops them propagating): `route_library_logs()` hands them back to
  the root handlers, and sends Python warnings there too;
- the project printed its messages: `say()` logs them (printed when no log file is configured,
  e.g. `train(cfg)` called from a script or a test);
- the end-of-run summary is a rich table for the terminal: `to_log_files()` writes its plain text
  to the log files only.
"""

from __future__ import annotations

import logging
import os
import sys

#: the project's logger; its records go through the root handlers Hydra configured
log = logging.getLogger("graytransfer")
#: Lightning's loggers: each gets its own stderr handler at import (`lightning`: always,
#: `lightning.pytorch`/`lightning.fabric` with no propagation when logging is not yet configured)
LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric")
#: columns of rich output written to a file or a pipe (a SLURM log; rich's own default is 80)
NON_TTY_WIDTH = 120


def console_width() -> int | None:
    """The width for a rich Console: None (rich decides) on a terminal or when `COLUMNS` is set,
    else `NON_TTY_WIDTH`. Used by the progress bar and the end-of-run summary."""
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return None
    return NON_TTY_WIDTH


def log_files() -> list[logging.FileHandler]:
    """The root logger's file handlers (Hydra's `<task_name>.log`), if logging is configured."""
    return [
        h
        for h in logging.getLogger().handlers
        if isinstance(h, logging.FileHandler) and h.baseFilename != os.devnull  # pytest's
    ]


def route_library_logs() -> None:
    """When a log file is configured, Lightning's messages and Python warnings go through the root
    handlers (console and log file) instead of Lightning's own stderr handler."""
    if not log_files():
        return
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            if type(handler) is logging.StreamHandler:  # the ones Lightning added at import
                logger.removeHandler(handler)
        logger.propagate = True
    logging.captureWarnings(True)


def say(message: str) -> None:
    """Tell the user `message`: logged (console and log file) when a log file is configured,
    else printed."""
    if log_files():
        log.info(message)
    else:
        print(message, flush=True)


def to_log_files(text: str) -> None:
    """Write `text` (already shown on the terminal) to the configured log files only."""
    text = "\n".join(line.rstrip() for line in text.splitlines())
    record = logging.LogRecord(log.name, logging.INFO, __file__, 0, text, None, None)
    for handler in log_files():
        handler.handle(record)
