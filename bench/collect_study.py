"""Bring a study's runs home from a machine whose files come back in a few small files (a lent
GPU box): a JSON of one row per run (its metrics.json: status, model, strategy, seed, accuracies,
times) and one .tar.gz of the run folders without checkpoints (metrics, CSV curves, configs).

    python -m bench.collect_study outputs/study_gpu --json $OUT/study_gpu.json \
        --tar $OUT/study_gpu.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from bench.common import run_cli
from graytransfer.atomic import write_json_atomic
from graytransfer.errors import UserError


def run_rows(root: Path) -> list[dict[str, Any]]:
    """One row per `metrics.json` under `root` (any depth), sorted by folder."""
    rows = []
    for record in sorted(root.rglob("metrics.json")):
        data = json.loads(record.read_text())
        metrics, timing = data.get("metrics") or {}, data.get("timing") or {}
        rows.append(
            {
                "run": str(record.parent.relative_to(root)),
                "status": data.get("status"),
                "model": data.get("model"),
                "strategy": data.get("strategy"),
                "seed": data.get("seed"),
                "test_acc": metrics.get("test/acc"),
                "val_acc": metrics.get("val/acc"),
                "fit_s": timing.get("fit_s"),
                "train_images_per_s": timing.get("train_images_per_s"),
            }
        )
    return rows


def pack(root: Path, out: Path) -> None:
    """`root` as `out` (.tar.gz, top folder named like `root`) without `*.ckpt`; written to a
    temporary file first, so a stopped run leaves no half archive."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=out.parent, suffix=".part")
    os.close(handle)
    with tarfile.open(tmp, "w:gz") as archive:
        archive.add(
            root,
            arcname=root.name,
            filter=lambda item: None if item.name.endswith(".ckpt") else item,
        )
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def main() -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="the study's sweep folder, e.g. outputs/study_gpu")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--tar", type=Path, default=None)
    args = parser.parse_args()
    if not args.root.is_dir():
        raise UserError(f"{args.root}: no such folder; run the study first (it writes there)")
    rows = run_rows(args.root)
    for row in rows:
        print(row)
    write_json_atomic(args.json, {"root": str(args.root), "runs": rows})
    if args.tar is not None:
        pack(args.root, args.tar)
    print(f"{len(rows)} runs -> {args.json}" + (f", {args.tar}" if args.tar else ""))
    return rows


if __name__ == "__main__":
    run_cli(main)
