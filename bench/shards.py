"""Loader throughput and memory: uncached PNG against shards (format /1 and /2) and a
memory-mapped array, at 8 and 16 bits and several set sizes.

    python -m bench.shards                                  # 10k and 100k, 8 and 16 bit, 2 workers
    python -m bench.shards --counts 10000 --bits 8 --dir /data/scratch
    python -m bench.shards --dry-run                        # tiny, in-process (the tests run it)

Everything is written under a new folder made inside `--dir` (default: the system temp folder)
and that folder alone is removed at the end (each size's files as soon as it is measured).
Images are 224x224 generated X-ray-like pictures (`bench.loader_throughput.synthetic_xray`,
shifted per image, 2 classes). Rows, each a training loader (batch 64, shuffled) timed in a fresh
process after one warm-up batch:
- `png`: `data=folder data.cache=false data.scan=none` decoding every PNG (`--png-images` of
  them, timed up to `--max-png`; the cost per image does not depend on the set's size, so one
  row per bit depth is the baseline of every size);
- `shards/1`, `shards/2`: `data=shards` over the same generated images written by the real
  converter (`shard_writer.convert`) in the old and the new item format, one whole epoch;
- `handoff`: the floor under every row with workers: items that are ready tensors (a copy of
  one image each, no reading), through the same shuffled, collating DataLoader: what moving
  images from the workers to the training process alone allows on this machine (`--handoff-images`
  of them, once per bit depth);
- `memmap`: what LitData's per-item path is compared with: the images as one `.npy`, each batch
  one sorted gather from the memory map into a shared tensor (no per-item Python), one epoch.
Peak RSS is the loader process's (Linux VmHWM: `ru_maxrss` would carry the bench parent's
high-water mark across `exec`) and its largest worker's (RUSAGE_CHILDREN);
`cpu_us_per_image` is the CPU time of the loader process and its workers over their whole life
divided by the images they made, a cost less sensitive than images/s to other jobs on the cores.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from bench.common import machine_info, peak_rss_bytes, report
from bench.shard_inputs import (
    BATCH,
    GatherBatches,
    Generated,
    ReadyImages,
    generated_module,
    write_memmap,
    write_pngs,
)

KINDS = ("shards/1", "shards/2", "memmap")


def loader_of(kind: str, root: Path, side: int, bits: int, workers: int, batch: int, count: int):
    if kind == "handoff":
        return torch.utils.data.DataLoader(
            ReadyImages(count, side, bits), batch_size=batch, shuffle=True,
            num_workers=workers, persistent_workers=workers > 0,
        )  # fmt: skip
    if kind == "memmap":
        data = GatherBatches(root)
        sampler = torch.utils.data.BatchSampler(
            torch.utils.data.RandomSampler(range(len(data))), batch, drop_last=False
        )
        return torch.utils.data.DataLoader(
            data, batch_size=None, sampler=sampler, num_workers=workers,
            persistent_workers=workers > 0,
        )  # fmt: skip
    if kind.startswith("shards"):
        from graytransfer.data import ShardDataModule

        data = ShardDataModule(root=str(root), batch_size=batch, num_workers=workers, verify="size")
    else:
        from graytransfer.data import FolderDataModule

        data = FolderDataModule(
            root=str(root), image_size=side, batch_size=batch, num_workers=workers, val_split=0.0,
            test_split=0.0, scan="none", cache=False, bit_depth=bits,
        )  # fmt: skip
    data.setup("fit")
    return data.train_dataloader()


def measure_one(
    kind: str, root: Path, side: int, bits: int, workers: int, cap: int, batch: int = BATCH
) -> dict:
    """Images/s over up to `cap` images after one warm-up batch; peak RSS; CPU per image."""
    started_cpu = resource.getrusage(resource.RUSAGE_SELF)
    loader = loader_of(kind, root, side, bits, workers, batch, cap)
    iterator = iter(loader)
    made = next(iterator)[0].shape[0]
    count, started = 0, time.perf_counter()
    for images, _ in iterator:
        count += images.shape[0]
        if count >= cap:
            break
    seconds = time.perf_counter() - started
    del iterator, loader  # the workers exit, so their CPU time is counted
    gc.collect()
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = own.ru_utime + own.ru_stime - started_cpu.ru_utime - started_cpu.ru_stime
    cpu += children.ru_utime + children.ru_stime
    return {"images_timed": count, "images_per_s": count / seconds,
            "cpu_us_per_image": 1e6 * cpu / (count + made),
            "peak_rss_mib": peak_rss_bytes() / 2**20,
            "worker_peak_rss_mib": children.ru_maxrss / 1024 if workers else None}  # fmt: skip


def run_child(
    kind: str, root: Path, side: int, bits: int, workers: int, cap: int, batch: int = BATCH
) -> dict:
    args = [kind, str(root), str(side), str(bits), str(workers), str(cap), str(batch)]
    done = subprocess.run(
        [sys.executable, "-m", "bench.shards", "--child", *args], capture_output=True, text=True,
        check=False, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def needed_bytes(args: argparse.Namespace) -> int:
    """Disk for the largest size at the deepest bits: two shard formats and the `.npy`."""
    per_image = args.side * args.side * (2 if 16 in args.bits else 1)
    return int(max(args.counts) * per_image * 3 * 1.1) + args.png_images * per_image * 2


def measured_row(args, measure, kind: str, root: Path, bits: int, images: int, cap: int,
                 **extra: float) -> dict:  # fmt: skip
    """One row, printed as it is made: `kind` over `images` images at `root` (up to `cap`
    timed) at `bits`, with the run's workers and batch; `extra` columns added."""
    row = {"bits": bits, "images": images, "loader": kind, "workers": args.workers}
    row.update(measure(kind, root, args.side, bits, args.workers, cap, args.batch))
    row.update(extra)
    print(json.dumps(row), flush=True)
    return row


def measure_size(args, work: Path, count: int, bits: int, measure) -> list[dict]:
    """Write `count` generated images as shards /1, /2 and a `.npy`, time each, remove them."""
    from graytransfer.data.store.shard_manifest import READABLE
    from graytransfer.data.store.shard_writer import convert

    rows, roots = [], {}
    for kind in KINDS:
        roots[kind] = work / f"{kind.replace('/', '')}_{bits}bit_{count}"
        started = time.perf_counter()
        if kind == "memmap":
            write_memmap(roots[kind].with_suffix(".npy"), Generated(count, args.side, bits))
            roots[kind] = roots[kind].with_suffix(".npy")
        else:
            data = generated_module(count, args.side, bits)
            shard_format = READABLE[0] if kind == "shards/1" else READABLE[-1]
            convert(data, roots[kind], {"bench": "shards"}, workers=max(1, args.workers),
                    verbose=False, shard_format=shard_format)  # fmt: skip
        write_s = time.perf_counter() - started
        rows.append(measured_row(args, measure, kind, roots[kind], bits, count, count,
                                 write_s=write_s))  # fmt: skip
    for root in roots.values():
        shutil.rmtree(root) if root.is_dir() else root.unlink()
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.shards", description=__doc__)
    parser.add_argument("--counts", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--bits", type=int, nargs="+", default=[8, 16], choices=[8, 16])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--png-images", type=int, default=3000)
    parser.add_argument("--max-png", type=int, default=2000, help="images timed for png")
    parser.add_argument("--handoff-images", type=int, default=20000)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    parser.add_argument("--out", type=Path, default=Path("bench/results/cpu/shards.json"))
    parser.add_argument("--dry-run", action="store_true", help="tiny sizes, in this process")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.counts, args.side, args.png_images, args.max_png = [96], 16, 32, 32
        args.handoff_images = 48
        args.workers, args.batch = 0, 8
    measure = measure_one if args.dry_run else run_child
    args.dir.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(args.dir).free
    if needed_bytes(args) > free:
        raise SystemExit(
            f"--dir {args.dir} has {free / 1e9:.1f} GB free, the largest size needs "
            f"{needed_bytes(args) / 1e9:.1f} GB: pass a --dir with more room or smaller --counts"
        )
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="graytransfer_bench_shards_", dir=args.dir))
    rows: list[dict[str, Any]] = []
    try:
        for bits in args.bits:
            png = work / f"png{bits}"
            write_pngs(png, args.png_images, args.side, bits)
            rows.append(
                measured_row(args, measure, "png", png, bits, args.png_images, args.max_png)
            )
            shutil.rmtree(png)
            # the root is not read: ready images need no files
            rows.append(measured_row(args, measure, "handoff", work, bits, args.handoff_images,
                                     args.handoff_images))  # fmt: skip
            for count in args.counts:
                rows += measure_size(args, work, count, bits, measure)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    png_rates = {r["bits"]: r["images_per_s"] for r in rows if r["loader"] == "png"}
    for row in rows:
        row["vs_png"] = row["images_per_s"] / png_rates[row["bits"]]
    columns = ["bits", "images", "loader", "workers", "images_timed", "images_per_s", "vs_png",
               "cpu_us_per_image", "peak_rss_mib", "worker_peak_rss_mib", "write_s"]  # fmt: skip
    settings = {k: str(v) for k, v in vars(args).items()}
    load_after = os.getloadavg()
    notes = [
        f"load average (1, 5, 15 min) {[round(v, 2) for v in load_before]} at the start and "
        f"{[round(v, 2) for v in load_after]} at the end (2 cores: above 2, other jobs competed)",
        "png: decodes every PNG (uncached), the baseline of every size at its bit depth",
        "handoff: ready images through the same loader, the floor of every row with workers",
        "shards/1, shards/2, memmap: one whole epoch timed after one warm-up batch",
    ]
    return report("shards", machine_info("cpu"), settings, rows, columns, args.out, notes=notes)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, root, *numbers = sys.argv[2:9]
        row = measure_one(kind, Path(root), *map(int, numbers))
        print(json.dumps(row))
    else:
        main()
