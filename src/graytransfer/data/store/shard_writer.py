"""Write a set-up data module's splits as LitData shards (`litdata.optimize`), resumably.

Each split is written by `litdata.optimize` with `use_checkpoint=True` into `<out>/<split>/`:
worker processes decode items (the data module's own dataset, without augmentation) and write
`chunk-<worker>-<n>.bin` files; after each chunk LitData records how far each worker got, so a
conversion killed part-way resumes where its chunks end, with no item written twice or lost.
A split is finished when its `index.json` exists; `manifest.json` (`shard_manifest`) is written
last, atomically, with the chunks' checksums.

`<out>/.plan.json` records what is being converted (source config, counts, workers, chunking);
a resumed conversion must ask for the same, else it stops with a one-line error.

`overwrite=true` removes only what a conversion writes (`OWN_FILES`, and LitData's files in the
split folders): a folder holding anything else is refused, naming what is there, and `out`
itself stays.
"""

from __future__ import annotations

import copy
import csv
import json
import multiprocessing as mp
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from graytransfer.atomic import write_text_atomic
from graytransfer.data.base import GrayscaleDataModule, class_counts
from graytransfer.data.labels import describe_label
from graytransfer.data.store.shard_manifest import (
    FORMAT,
    MANIFEST,
    READABLE,
    SPLIT_FILE,
    chunk_record,
)
from graytransfer.data.store.shard_remote import litdata
from graytransfer.errors import UserError

PLAN = ".plan.json"
#: the files a conversion writes at the top of `out`; the split folders hold LitData's files
OWN_FILES = (MANIFEST, PLAN, SPLIT_FILE, f".{SPLIT_FILE}.partial")
SPLIT_DIRS = ("train", "val", "test")


class ReadItem:
    """Item `index` of `dataset` as a stored item (picklable: LitData sends it to its worker
    processes). Format /2 (`flat=True`): `{image: the pixels as a flat 1-D array, label}`, which
    LitData writes as raw bytes with no header (its `no_header_numpy`), so reading one back is
    a copy and a reshape to the manifest's size. Format /1 (`flat=False`, kept to write old
    shards for tests and benchmarks): `{index, image (H, W) array, label}`. The dtype is the
    dataset's own (uint8, uint16, int16); the label a class number, or a multi-label vector of
    1/0/-1 (int8)."""

    def __init__(self, dataset: Dataset, flat: bool = True) -> None:
        self.dataset = dataset
        self.flat = flat

    def __call__(self, index: int) -> dict[str, Any]:
        image, label = self.dataset[index]
        array = image.numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
        label = np.asarray(label)
        stored = int(label) if label.ndim == 0 else np.ascontiguousarray(label, dtype=np.int8)
        if self.flat:
            return {"image": np.ascontiguousarray(array[0]).reshape(-1), "label": stored}
        return {"index": index, "image": np.ascontiguousarray(array[0]), "label": stored}


def without_augmentation(dataset: Dataset) -> Dataset:
    """A shallow copy of `dataset` with its `transform` off: shards hold the images as stored;
    augmentation happens when they are read for training."""
    plain = copy.copy(dataset)
    if hasattr(plain, "transform"):
        plain.transform = None
    return plain


def make_plan(data: GrayscaleDataModule, source: dict[str, Any], chunking: dict[str, Any]) -> dict:
    splits = data._splits()
    sample, _ = splits["train"][0]
    return {
        "source": source,
        "counts": {name: len(s) for name, s in splits.items()},
        "image_size": list(data.image_size),
        "dtype": str(sample.dtype).removeprefix("torch."),
        "value_range": [float(v) for v in data.value_range],
        "voi_window": None if data.voi_window is None else [float(v) for v in data.voi_window],
        "classes": list(data.class_names),
        "chunking": chunking,
    }


def start_or_resume(out: Path, plan: dict[str, Any], overwrite: bool) -> bool:
    """Prepare `out` for `plan`; True when an unfinished conversion of the same plan goes on."""
    if (out / MANIFEST).exists() and not overwrite:
        raise UserError(
            f"out '{out}' already holds finished shards: choose another folder or pass "
            "overwrite=true"
        )
    if overwrite and out.exists():
        remove_shards(out)
    plan_file = out / PLAN
    if plan_file.exists():
        if json.loads(plan_file.read_text()) != plan:
            raise UserError(
                f"out '{out}' holds an unfinished conversion of another config (see {plan_file}): "
                "run that same command again to finish it, or pass overwrite=true"
            )
        return True
    if out.exists() and any(out.iterdir()):
        raise UserError(f"out '{out}' is not empty: choose a new folder or pass overwrite=true")
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(plan_file, json.dumps(plan, indent=2) + "\n")
    return False


def is_litdata_file(path: Path) -> bool:
    """A file LitData's `optimize` writes into a split folder: `index.json` (also per worker,
    `<n>-index.json`), `chunk-*.bin`, and its `.checkpoints/checkpoint-*.json`."""
    name = path.name
    if path.is_dir():
        return name == ".checkpoints" and all(
            p.is_file() and p.name.startswith("checkpoint-") and p.suffix == ".json"
            for p in path.iterdir()
        )
    return name.endswith("index.json") or (name.startswith("chunk-") and name.endswith(".bin"))


def foreign_entries(out: Path) -> list[Path]:
    """What in `out` a conversion did not write; empty when `out` holds only shards."""
    foreign = []
    for entry in sorted(out.iterdir()):
        if entry.name in OWN_FILES and entry.is_file():
            continue
        if entry.name in SPLIT_DIRS and entry.is_dir():
            foreign += [p for p in sorted(entry.iterdir()) if not is_litdata_file(p)]
            continue
        foreign.append(entry)
    return foreign


def remove_shards(out: Path) -> None:
    """Delete a shard folder's contents (`out` itself stays), only when the shards tool wrote
    all of it: its manifest or plan is there and nothing else is; else a one-line UserError
    naming what is there. A user's file is never removed."""
    if not out.is_dir():
        raise UserError(f"out '{out}' is a file, not a folder: choose a folder for the shards")
    foreign = foreign_entries(out)
    if foreign or not any((out / name).is_file() for name in (MANIFEST, PLAN)):
        shown = ", ".join(f"'{p.relative_to(out)}'" for p in foreign[:5])
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        what = f"holds {shown}{more}, which" if foreign else "has no manifest.json or .plan.json:"
        raise UserError(
            f"out '{out}' {what} the shards tool did not write; overwrite=true replaces only a "
            "shard folder: choose another folder, or move those files away"
        )
    for name in SPLIT_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    for name in OWN_FILES:
        (out / name).unlink(missing_ok=True)


def write_split(
    dataset: Dataset, target: Path, chunking: dict[str, Any], verbose: bool, flat: bool = True
) -> None:
    """Write `dataset` into `target` with `litdata.optimize`, resuming its checkpoints."""
    optimize = litdata().optimize

    if (target / "index.json").exists():
        return  # finished before an interruption
    before = set(mp.active_children())
    try:
        optimize(
            fn=ReadItem(without_augmentation(dataset), flat),
            inputs=list(range(len(dataset))),
            output_dir=str(target),
            num_workers=chunking["workers"],
            chunk_size=chunking["chunk_size"],
            chunk_bytes=None if chunking["chunk_size"] else chunking["chunk_bytes"],
            use_checkpoint=True,
            reorder_files=False,
            # fork: a spawned worker re-imports torch (seconds each); Windows/macOS spawn
            start_method="fork" if "fork" in mp.get_all_start_methods() else "spawn",
            verbose=verbose,
        )
    except BaseException:
        # a failed item leaves LitData's other workers waiting on their queues: end the ones
        # this call started, so the process can exit; the chunks they finished are kept
        for child in set(mp.active_children()) - before:
            child.terminate()
        raise


def write_split_file(out: Path, data: GrayscaleDataModule) -> None:
    """`split.csv`: split, index (in the shards), id (the source's), label, class; a multi-label
    row's label is its vector (`[1 0 -1]`) and its class the positive names (`a|d`)."""
    partial = out / f".{SPLIT_FILE}.partial"
    with open(partial, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["split", "index", "id", "label", "class"])
        for name, s in data._splits().items():
            for index, (item, label) in enumerate(zip(s.ids, s.labels.tolist(), strict=True)):
                cell = label if isinstance(label, int) else f"[{' '.join(map(str, label))}]"
                writer.writerow(
                    [name, index, item, cell, describe_label(label, data.class_names)[1]]
                )
    os.replace(partial, out / SPLIT_FILE)


def check_written(target: Path, expected: int) -> None:
    """The finished split holds exactly `expected` items (LitData's index says how many)."""
    index = json.loads((target / "index.json").read_text())
    written = sum(c["chunk_size"] for c in index["chunks"])
    if written != expected:
        raise RuntimeError(f"{target}: LitData wrote {written} items, expected {expected}")


def convert(
    data: GrayscaleDataModule,
    out: Path,
    source: dict[str, Any],
    workers: int = 2,
    chunk_bytes: str = "64MB",
    chunk_size: int | None = None,
    overwrite: bool = False,
    verbose: bool = True,
    shard_format: str = FORMAT,
) -> dict[str, Any]:
    """Write every split of the set-up `data` under `out`; return the manifest (also written).
    `shard_format` is the current format; the older one (`READABLE[0]`) is written only to test
    and benchmark reading it."""
    if shard_format not in READABLE:
        raise ValueError(f"shard_format {shard_format!r} is not one of {READABLE}")
    flat = shard_format != READABLE[0]
    # the format is part of the plan: a conversion is resumed only in the format it began with
    chunking = {
        "workers": max(1, workers),
        "chunk_bytes": chunk_bytes,
        "chunk_size": chunk_size,
        "format": shard_format,
    }
    plan = make_plan(data, source, chunking)
    start_or_resume(out, plan, overwrite)
    splits = data._splits()
    records = {}
    for name, dataset in splits.items():
        if len(dataset) == 0:
            continue
        target = out / name
        write_split(dataset, target, chunking, verbose, flat)
        check_written(target, len(dataset))
        shutil.rmtree(target / ".checkpoints", ignore_errors=True)
        records[name] = {
            "count": len(dataset),
            "class_counts": class_counts(dataset.labels, data.num_classes).tolist(),
            "chunks": chunk_record(target),
        }
    write_split_file(out, data)
    manifest = {
        "format": shard_format,
        "classes": plan["classes"],
        "image_size": plan["image_size"],
        "dtype": plan["dtype"],
        "value_range": plan["value_range"],
        "voi_window": plan["voi_window"],
        "splits": records,
        "source": source,
        "source_description": data.describe(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    write_text_atomic(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    (out / PLAN).unlink()
    return manifest
