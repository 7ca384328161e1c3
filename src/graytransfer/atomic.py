"""Files written whole or not at all: a temporary file in the same folder, then a rename.

Standard library only, so every sub-package (data's shard writer, run's records, the
checkpoints, the benchmarks) writes its files the one same way. The temporary file is created
exclusively (it is never a file that existed before) and named `.<name>.<pid>.<random><suffix>`
beside its target, so a failed write removes only the file it created, and `writer_pid` tells a
temporary file of ours (and its writer) from any other file in the folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

TEMPORARY = ".tmp"


@contextmanager
def atomic_file(
    path: Path | str,
    mode: str = "wb",
    *,
    encoding: str | None = None,
    durable: bool = False,
    suffix: str = TEMPORARY,
) -> Iterator[IO]:
    """A new temporary file beside `path`, open for writing; when the block ends without an
    error it is flushed (`durable`: fsynced too) and renamed over `path`; on any error it, and
    only it, is removed and the file already at `path` (if any) stays as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=suffix
    )
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)  # the file mkstemp created above, nothing else
        raise


def writer_pid(path: Path, suffix: str = TEMPORARY) -> int | None:
    """The pid of the process that created `path` when its name is one `atomic_file` gives
    (`.<name>.<pid>.<random><suffix>`); None for any other file."""
    match = re.fullmatch(rf"\..+\.(\d+)\.[a-z0-9_]+{re.escape(suffix)}", path.name)
    return int(match[1]) if match else None


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename: never a half-written file."""
    with atomic_file(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename: never a half-written file."""
    with atomic_file(path) as handle:
        handle.write(data)


def write_json_atomic(path: Path | str, payload: dict[str, Any]) -> None:
    """Write JSON to `path` atomically (`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
