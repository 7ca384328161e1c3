"""The manifest of a shard folder (`python -m graytransfer.tools.shards`), and its checks.

A shard folder holds one LitData dataset per split (`train/`, `val/`, `test/`: `index.json` plus
`chunk-*.bin`), `split.csv` (split, index, id, label, class: the exact split the source data
module made) and `manifest.json`, written last, so a folder without it is an unfinished
conversion. The manifest records the class list, image size, dtype, the value range the
source measured and a DICOM set's own window (what the model's intensity mapping is built
from), counts per split and class, the source data config, and each chunk's size and SHA-256;
`verify_chunks` checks them before training, so a missing or damaged chunk stops the run with
its name instead of a silent short epoch.

Formats (`manifest["format"]`): `graytransfer-shards/2` (written now) stores each item as
`{image: the (H, W) pixels as raw bytes of the manifest's dtype, a flat 1-D array with no
header, label}`, so reading one is a copy of its bytes and a reshape to the manifest's size;
`graytransfer-shards/1` stored `{index, image: a (H, W) array with a shape header, label}` and
still reads. Any other format stops in one line that names the command to rewrite the shards.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graytransfer.errors import UserError

MANIFEST = "manifest.json"
SPLIT_FILE = "split.csv"
FORMAT = "graytransfer-shards/2"
#: formats this version reads: /1 (image with a shape header, plus its index) and /2 (raw bytes)
READABLE = ("graytransfer-shards/1", FORMAT)
#: what `verify` takes: full (SHA-256 of every chunk), size (exists with its byte size), none
VERIFY = ("full", "size", "none")


def sha256_of(path: Path, block: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(block):
            digest.update(chunk)
    return digest.hexdigest()


def chunk_record(split_dir: Path) -> dict[str, dict[str, Any]]:
    """`{file name: {bytes, sha256}}` of a finished split's `index.json` and chunk files."""
    names = ["index.json", *json.loads((split_dir / "index.json").read_text())["chunks"]]
    names = [n if isinstance(n, str) else n["filename"] for n in names]
    files = [split_dir / n for n in names]
    return {p.name: {"bytes": p.stat().st_size, "sha256": sha256_of(p)} for p in files}


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of a local shard folder; a UserError when it is missing or unreadable."""
    path = root / MANIFEST
    if not root.is_dir():
        raise UserError(
            f"data.root '{root}' does not exist: convert a data set first with "
            "python -m graytransfer.tools.shards data=... out=DIR"
        )
    if not path.is_file():
        raise UserError(
            f"'{root}' has no {MANIFEST}: it is not a finished shard folder (an interrupted "
            "conversion resumes when you run the same shards command again)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UserError(f"'{path}' is not readable JSON ({err}); convert again") from None
    if manifest.get("format") not in READABLE:
        raise UserError(
            f"'{path}' has format {manifest.get('format')!r}, which this version does not read "
            f"({', '.join(READABLE)}): rewrite the shards with python -m "
            "graytransfer.tools.shards data=<the source data> out=<new folder>"
        )
    return manifest


def flat_items(manifest: dict[str, Any]) -> bool:
    """True when the shards store each image as flat raw bytes (format /2), to be reshaped to
    the manifest's `image_size`; False for format /1 (a shaped array)."""
    return manifest["format"] != READABLE[0]


def verify_chunks(root: Path, manifest: dict[str, Any], mode: str = "full") -> None:
    """Every chunk the manifest lists exists with its size (and, `full`, its SHA-256); the first
    that does not is named in a one-line UserError."""
    if mode not in VERIFY:
        raise UserError(f"data.verify: '{mode}' is not one of {list(VERIFY)}")
    if mode == "none":
        return
    for split, record in manifest["splits"].items():
        for name, expected in record["chunks"].items():
            path = root / split / name
            if not path.is_file():
                raise UserError(
                    f"shard chunk '{path}' is missing: copy the whole shard folder again or "
                    "convert again"
                )
            size = path.stat().st_size
            if size != expected["bytes"]:
                raise UserError(
                    f"shard chunk '{path}' is corrupt: {size} bytes, the manifest says "
                    f"{expected['bytes']}; copy it again or convert again"
                )
            if mode == "full" and sha256_of(path) != expected["sha256"]:
                raise UserError(
                    f"shard chunk '{path}' is corrupt: its SHA-256 differs from the manifest's; "
                    "copy it again or convert again"
                )


def check_matches(
    manifest: dict[str, Any],
    root: str,
    image_size: tuple[int, int] | None,
    classes: Sequence[str] | None,
) -> None:
    """The shards hold what the config asks for: the same (H, W) and, when given, class list."""
    stored = tuple(manifest["image_size"])
    if image_size is not None and tuple(image_size) != stored:
        raise UserError(
            f"data.image_size {list(image_size)} differs from the shards' {list(stored)} in "
            f"'{root}': set data.image_size={list(stored)} (or native), or convert again at "
            f"{list(image_size)}"
        )
    if classes is not None and list(classes) != list(manifest["classes"]):
        raise UserError(
            f"data.classes {list(classes)} differs from the shards' class list "
            f"{manifest['classes']} in '{root}': fix data.classes or convert the right data"
        )


def stored_values(
    manifest: dict[str, Any], root: str
) -> tuple[tuple[float, float], tuple[float, float] | None]:
    """`(value_range, voi_window)` the source data module measured. A uint8 manifest written
    before they were recorded means 0..255 and no window; a full-depth one must have them."""
    if "value_range" not in manifest:
        if manifest["dtype"] != "uint8":
            raise UserError(
                f"the {manifest['dtype']} shards in '{root}' do not record their value range "
                "(written by an older version): convert them again"
            )
        return (0.0, 255.0), None
    low, high = (float(v) for v in manifest["value_range"])
    window = manifest.get("voi_window")
    return (low, high), None if window is None else (float(window[0]), float(window[1]))


def read_split_file(path: Path) -> dict[str, tuple[list[str], list[int] | list[list[int]]]]:
    """`split.csv` -> {split: (ids, labels)}, rows in shard index order; a label is a class
    number, or a multi-label vector (`[1 0 -1]` in the file)."""
    found: dict[str, tuple[list[str], list]] = {}
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            ids, labels = found.setdefault(row["split"], ([], []))
            ids.append(row["id"])
            text = row["label"]
            vector = text.startswith("[")
            labels.append([int(v) for v in text.strip("[]").split()] if vector else int(text))
    return found
