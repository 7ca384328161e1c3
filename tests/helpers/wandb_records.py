"""Read what an offline W&B run recorded, from its `run-*.wandb` transaction log.

The file is W&B's LevelDB-style log: a 7-byte header, then 32 KiB blocks of records, each with a
7-byte header (crc32, length, type: 1 full, 2 first, 3 middle, 4 last) and a protobuf `Record`.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

from wandb.proto import wandb_internal_pb2 as pb

BLOCK = 32 * 1024
HEADER = 7


def records(path: Path) -> list[pb.Record]:
    raw = path.read_bytes()
    assert raw[:4] == b":W&B", f"{path} is not a W&B transaction log"
    out, pending, pos = [], b"", HEADER
    while pos + HEADER <= len(raw):
        left_in_block = BLOCK - pos % BLOCK
        if left_in_block < HEADER:
            pos += left_in_block
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos : pos + HEADER])
        if length == 0 and kind == 0:
            pos += left_in_block
            continue
        data = raw[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        pending = data if kind in (1, 2) else pending + data
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
            pending = b""
    return out


def _key(item) -> str:
    return item.key or "/".join(item.nested_key)


def logged_history(path: Path) -> list[dict]:
    """Every `wandb.log` row of the run, as dicts."""
    return [
        {_key(i): json.loads(i.value_json) for i in r.history.item}
        for r in records(path)
        if r.WhichOneof("record_type") == "history"
    ]


def logged_config(path: Path) -> dict:
    """The run's config (the last value of each key)."""
    config = {}
    for r in records(path):
        if r.WhichOneof("record_type") == "config":
            for i in r.config.update:
                config[_key(i)] = json.loads(i.value_json)
    return config


def offline_log(wandb_dir: Path) -> Path:
    """The transaction log of the one offline W&B run under `wandb_dir`."""
    (log,) = wandb_dir.glob("offline-run-*/run-*.wandb")
    return log
