"""Files written whole or not at all: a temporary file in the same folder, then a rename.

Standard library only, so every sub-package (data's shard writer, run's records, the benchmarks)
writes its files the one same way.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write `text` to `path` via a temporary file and a rename: never a half-written file."""
    _write_atomic(path, text, "w", "utf-8")


def write_bytes_atomic(path: Path | str, data: bytes) -> None:
    """Write `data` to `path` via a temporary file and a rename: never a half-written file."""
    _write_atomic(path, data, "wb", None)


def _write_atomic(path: Path | str, content: str | bytes, mode: str, encoding: str | None) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path | str, payload: dict[str, Any]) -> None:
    """Write JSON to `path` atomically (`write_text_atomic`)."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
