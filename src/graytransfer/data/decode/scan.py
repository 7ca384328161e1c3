"""The pre-training scan: decode every file once, in parallel, and collect the bad ones.

Nothing is skipped silently: `on_bad_file=error` (the default) stops with every bad file named;
`on_bad_file=skip` drops them with one warning that counts them.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from graytransfer.errors import UserError

ON_BAD_FILE = ("error", "skip")


@dataclass(frozen=True)
class BadFile:
    """A file (or class folder) that cannot be used, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"'{self.path}' {self.reason}"


@dataclass
class ScanResult:
    """Per-path outcome in input order: decoded uint8 arrays (when kept) and the bad files."""

    good: list[bool]
    images: list[np.ndarray | None]
    bad: list[BadFile]


class BadImageError(UserError):
    """An image that cannot be decoded while the loaders read it (after, or without, the scan).

    Its message is one line naming the file. A DataLoader worker re-raises it in the main
    process as `BadImageError("Caught BadImageError in DataLoader worker process 0.\\nOriginal
    Traceback ...")`; the constructor recovers the one line from that traceback's last line.
    """

    def __init__(self, message: str) -> None:
        if "\nOriginal Traceback" in message:
            last = [line for line in message.splitlines() if line.strip()][-1]
            prefix = f"{type(self).__module__}.{type(self).__qualname__}: "
            message = last.removeprefix(prefix)
        super().__init__(message)


def check_on_bad_file(value: str) -> str:
    if value not in ON_BAD_FILE:
        raise UserError(f"data.on_bad_file: '{value}' is not one of {list(ON_BAD_FILE)}")
    return value


def scan_files(
    paths: Sequence[Path],
    decode: Callable[[Path], np.ndarray],
    threads: int,
    keep: bool = False,
) -> ScanResult:
    """Decode every path with `decode` on `threads` threads (Pillow's decoders release the GIL).

    A file that raises (truncated, unreadable, missing, empty) is a `BadFile`; a `UserError`
    (a configuration mistake, e.g. pydicom missing) propagates. `keep` keeps the decoded arrays.
    """

    def one(path: Path) -> tuple[np.ndarray | None, str | None]:
        try:
            image = decode(path)
        except UserError:
            raise
        except Exception as err:  # any decoder failure makes the file bad; the reason says which
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            return None, f"cannot be read ({type(err).__name__}: {reason})"
        return (image if keep else None), None

    threads = max(1, threads)
    if threads == 1 or len(paths) < 2:
        outcomes = [one(p) for p in paths]
    else:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(one, paths, chunksize=16))
    good = [reason is None for _, reason in outcomes]
    bad = [
        BadFile(p, reason)
        for p, (_, reason) in zip(paths, outcomes, strict=True)
        if reason is not None
    ]
    return ScanResult(good=good, images=[img for img, _ in outcomes], bad=bad)


def report_bad_files(bad: Sequence[BadFile], on_bad_file: str, where: str) -> None:
    """Raise (`error`) with every bad file named, or warn once with their count (`skip`)."""
    if not bad:
        return
    if on_bad_file == "error":
        listing = "; ".join(str(b) for b in bad)
        raise UserError(
            f"{len(bad)} bad file(s) in {where}: {listing} — fix or remove them, or set "
            "data.on_bad_file=skip to train without them"
        )
    examples = "; ".join(str(b) for b in bad[:3])
    more = f"; and {len(bad) - 3} more" if len(bad) > 3 else ""
    warnings.warn(
        f"data.on_bad_file=skip: skipping {len(bad)} bad file(s) in {where}: {examples}{more} "
        "(the full list is in bad_files.txt in the run folder)",
        UserWarning,
        stacklevel=2,
    )
