"""Loader throughput and memory: PNG folder (uncached, cached) against LitData shards.

    python -m bench.shards                                  # 10k and 30k images, 1 and 2 workers
    python -m bench.shards --counts 10000 100000 --dir /data/bench_shards

Writes `count` synthetic X-ray-like 8-bit PNGs of 256x256 (`bench.loader_throughput`'s images,
2 classes), converts them with `python -m graytransfer.tools.shards` (the real CLI), then times
the training loader of (a) `data=folder data.cache=false data.scan=none` (decodes every PNG each
epoch), (b) `data=folder data.cache=true` (decoded once in setup, then from memory; setup time
not counted) and (c) `data=shards`, each in a fresh process, batch 64, images kept at 256x256.
A warm-up batch is not timed; then up to `--max-images` images (all of them for (b) and (c), so
their peak RSS covers a whole epoch). Peak RSS is the loader process's and its largest worker's
(Linux VmHWM / RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from bench.common import machine_info, report
from bench.loader_throughput import synthetic_xray

KINDS = ("folder", "folder_cached", "shards")


def write_pngs(root: Path, count: int, side: int) -> None:
    """`root/class<k>/<i>.png`, resumable: existing files are kept."""
    rng = np.random.default_rng(0)
    base = [synthetic_xray(rng, side, label) for label in (0, 1)]
    for i in range(count):
        label = i % 2
        path = root / f"class{label}" / f"{i:06d}.png"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        noisy = np.clip(base[label] + rng.normal(0, 0.02, base[label].shape), 0, 1)
        Image.fromarray(np.rint(noisy * 255).astype(np.uint8)).save(path)


def convert(folder: Path, out: Path, side: int, workers: int) -> float:
    """The real converter CLI over the folder (train split only); seconds it took."""
    if (out / "manifest.json").exists():
        return float("nan")
    started = time.perf_counter()
    subprocess.run(
        [
            sys.executable, "-m", "graytransfer.tools.shards", "data=folder",
            f"data.root={folder}", "data.val_split=0", "data.test_split=0", "data.scan=none",
            "data.cache=false", f"image_size={side}", f"workers={workers}", f"out={out}",
            f"hydra.run.dir={out.parent / 'hydra'}",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def loader_of(kind: str, root: Path, side: int, workers: int):
    if kind == "shards":
        from graytransfer.data import ShardDataModule

        data = ShardDataModule(root=str(root), batch_size=64, num_workers=workers, verify="size")
    else:
        from graytransfer.data import FolderDataModule

        data = FolderDataModule(
            root=str(root), image_size=side, batch_size=64, num_workers=workers, val_split=0.0,
            test_split=0.0, scan="none", cache=kind == "folder_cached",
        )  # fmt: skip
    data.setup("fit")
    return data.train_dataloader()


def measure_one(kind: str, root: Path, side: int, workers: int, max_images: int) -> dict:
    """Run in a fresh process: images/s over up to `max_images` after one warm-up batch."""
    loader = loader_of(kind, root, side, workers)
    iterator = iter(loader)
    next(iterator)
    count, started = 0, time.perf_counter()
    for images, _ in iterator:
        count += images.shape[0]
        if count >= max_images:
            break
    seconds = time.perf_counter() - started
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"images_timed": count, "images_per_s": count / seconds, "peak_rss_mib": own,
            "worker_peak_rss_mib": children if workers else None}  # fmt: skip


def run_child(kind: str, root: Path, side: int, workers: int, max_images: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.shards", "--child", kind, str(root), str(side),
         str(workers), str(max_images)],
        capture_output=True, text=True, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[10000, 30000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--max-images", type=int, default=3000, help="cap for uncached PNG")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/graytransfer_bench_shards"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/cpu/shards.json"))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    for count in args.counts:
        folder = args.dir / f"png{count}"
        write_pngs(folder, count, args.side)
        shards = args.dir / f"shards{count}"
        convert_s = convert(folder, shards, args.side, max(args.workers))
        for workers in args.workers:
            for kind in KINDS:
                cap = args.max_images if kind == "folder" else count
                root = shards if kind == "shards" else folder
                row = {"images": count, "loader": kind, "workers": workers}
                row.update(run_child(kind, root, args.side, workers, cap))
                if kind == "shards":
                    row["convert_s"] = convert_s
                rows.append(row)
                print(json.dumps(row), flush=True)
    for row in rows:
        base = next(
            r for r in rows
            if r["loader"] == "folder" and r["images"] == row["images"]
            and r["workers"] == row["workers"]
        )  # fmt: skip
        row["vs_uncached"] = row["images_per_s"] / base["images_per_s"]
    columns = ["images", "loader", "workers", "images_timed", "images_per_s", "vs_uncached",
               "peak_rss_mib", "worker_peak_rss_mib", "convert_s"]  # fmt: skip
    settings = {**{k: str(v) for k, v in vars(args).items()}, "batch_size": 64, "bits": 8}
    notes = [
        f"load average (1 min) {load_before:.1f} at the start and {os.getloadavg()[0]:.1f} at "
        "the end: other sessions shared the 2 cores",
        "folder: decode every PNG (scan=none, so setup decodes nothing); timed images capped",
        "folder_cached and shards: one whole epoch timed (after one warm-up batch)",
    ]
    report("shards", machine_info("cpu"), settings, rows, columns, args.out, notes=notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, root, side, workers, cap = sys.argv[2:7]
        print(json.dumps(measure_one(kind, Path(root), int(side), int(workers), int(cap))))
    else:
        main()
