"""DDP scaling efficiency: the same `train.py` run (Lite0 at 224 px, Fashion-MNIST, bf16-mixed,
batch 64 per GPU) on 1, 2, 4, ... GPUs of one machine (run_gpu.sh part `ddp`).

    python -m bench.ddp_scaling --out $OUT/ddp_scaling.json       # every visible GPU
    python -m bench.ddp_scaling --device cpu --devices 2 --tiny     # CPU dry-run: 2 gloo ranks

Weak scaling: each GPU keeps its batch of 64, so k GPUs take 1/k of the optimiser steps of an
epoch. Throughput is the run record's `timing.train_images_per_s` (training images of all ranks
/ fit time, which includes Lightning's DDP set-up, the first epoch's cuDNN warm-up and a small
validation each epoch: what a user waits for); efficiency(k) = images/s on k GPUs / (k x
images/s on 1). trainer=ddp as shipped (NCCL, sync_batchnorm). With fewer than 2 GPUs the part
says so in one line, writes a record saying it was skipped, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import machine_info, report, run_cli
from graytransfer.atomic import write_json_atomic
from graytransfer.errors import UserError

REPO = Path(__file__).resolve().parents[1]
#: a lean run: no previews, no per-step logging to files, checkpoints off, no test
LEAN = [
    "model=lite0",
    "data=fashion_mnist",
    "data.download=false",
    "logger=none",
    "callbacks=none",
    "trainer.enable_progress_bar=false",
    "++trainer.enable_checkpointing=false",
    "test=false",
]
GPU = ["data.image_size=224", "data.batch_size=64", "data.train_subset=16000",
       "data.val_subset=256", "trainer.max_epochs=2", "trainer.precision=bf16-mixed"]  # fmt: skip
#: the CPU dry-run: 32 images at batch 8 (4 steps on 1 rank, 2 a rank on 2), 16 to validate
TINY = ["data.image_size=32", "data.batch_size=8", "data.train_subset=32",
        "data.val_subset=16", "trainer.max_epochs=1"]  # fmt: skip
COLUMNS = ("devices", "train_images_per_s", "per_device", "efficiency", "fit_s", "wall_s")


def device_counts(available: int) -> list[int]:
    """1, 2, 4, ... up to `available`, and `available` itself: the counts measured."""
    counts, k = [], 1
    while k < available:
        counts.append(k)
        k *= 2
    return [*counts, available] if available > 0 else []


def skip_reason(device: str, available: int) -> str | None:
    """Why there is nothing to measure, or None."""
    if available < 2:
        what = "GPU" if device == "cuda" else "device"
        return f"skipped: {available} {what}{'s' if available != 1 else ''} visible; DDP " \
            "scaling needs 2 or more"  # fmt: skip
    return None


def command(device: str, devices: int, sizes: Sequence[str], run_dir: Path,
            extra: Sequence[str]) -> list[str]:  # fmt: skip
    """train.py on `devices` devices: trainer=gpu for one GPU, trainer=ddp for more; on the CPU
    trainer=cpu and trainer=ddp_cpu (gloo ranks)."""
    if device == "cuda":
        trainer = ["trainer=gpu", "trainer.devices=1"] if devices == 1 else [
            "trainer=ddp", f"trainer.devices={devices}"]  # fmt: skip
    else:
        trainer = ["trainer=cpu"] if devices == 1 else [
            "trainer=ddp_cpu", f"trainer.devices={devices}"]  # fmt: skip
    return [sys.executable, str(REPO / "train.py"), *LEAN, *trainer, *sizes, *extra,
            f"hydra.run.dir={run_dir}"]  # fmt: skip


def measure(argv: list[str], run_dir: Path, log: Path) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(argv, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"train.py exited {done.returncode}: {log.read_text()[-1500:]}")
    timing = json.loads((run_dir / "metrics.json").read_text())["timing"]
    return {"train_images_per_s": timing["train_images_per_s"], "fit_s": timing["fit_s"],
            "wall_s": wall, "command": argv}  # fmt: skip


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.ddp_scaling",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--devices", type=int, default=None, help="default: all visible GPUs")
    parser.add_argument("--tiny", action="store_true", help="32 px, 32 images, 1 epoch")
    parser.add_argument("--work", type=Path, default=REPO / "outputs/bench/ddp_scaling")
    parser.add_argument("--out", type=Path, default=REPO / "outputs/bench/ddp_scaling.json")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args(argv)
    if args.device == "cuda":
        import torch

        visible = torch.cuda.device_count()
        if args.devices is not None and args.devices > visible:
            raise UserError(f"--devices: {args.devices} asked, {visible} GPUs visible")
        available = args.devices or visible
    else:
        available = args.devices or 2
    if reason := skip_reason(args.device, available):
        print(f"[ddp] {reason}")
        write_json_atomic(args.out, {"benchmark": "ddp_scaling", "skipped": reason,
                                     "machine": machine_info("cpu")})  # fmt: skip
        return {"skipped": reason}
    sizes = TINY if args.tiny else GPU
    rows = []
    for devices in device_counts(available):
        run_dir = args.work / f"devices_{devices}"
        args.work.mkdir(parents=True, exist_ok=True)
        print(f"[ddp] {devices} device(s)", flush=True)
        argv_ = command(args.device, devices, sizes, run_dir, args.overrides)
        rows.append({"devices": devices, **measure(argv_, run_dir, args.work / f"{devices}.log")})
    single = rows[0]["train_images_per_s"]
    for row in rows:
        row["per_device"] = row["train_images_per_s"] / row["devices"]
        row["efficiency"] = row["per_device"] / single
    settings = {"device": args.device, "available": available, "sizes": sizes, "lean": LEAN,
                "overrides": args.overrides, "tiny": args.tiny}  # fmt: skip
    notes = ["weak scaling: batch per device fixed; efficiency = per-device images/s over the "
             "1-device run's; fit time includes DDP set-up, warm-up and validation"]  # fmt: skip
    return report("ddp_scaling", machine_info(args.device), settings, rows, COLUMNS, args.out,
                  {"efficiency_at_max": rows[-1]["efficiency"]}, notes)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
