"""What one checkpoint write costs the training thread: Lightning's write as graytransfer used it
before (`before`), one atomic write in the training thread (`sync`) and in a background thread
(`background`, the default since 2026-12-07).

    python -m bench.checkpoint_write --threads 1 data.batch_size=4  # Lite0 32 px, GPU-sized step
    python -m bench.checkpoint_write --device cuda model=b0 model.pretrained=false \
        data.image_size=224 data.batch_size=64 trainer.precision=bf16-mixed   # run_gpu.sh
    python -m bench.checkpoint_write --dry-run                       # tiny (the tests)

The classifier and optimiser come from the composed run config (Lite0 with its packaged ImageNet
weights by default) and train on the data module's batches (held on the device) in the run's
precision. Each trial runs one window of `--window` training steps per mode, in a rotating
order; a mode's write is issued right before its window's first step, and the background write
is waited for at the window's end (after a device sync on a GPU), so a write longer than the
window counts whole. A write's cost is its window's wall time minus the same trial's window
without a write (`none`): the time the training thread lost to it, contention for the cores and
the interpreter included. Paired within a trial, so the host's drift between trials cancels.
`blocked_ms` is the time the training thread spent inside the save call itself.

The checkpoint holds what dominates Lightning's: the model's state dict and the optimiser's
(AdamW's two moments per parameter), ~41 MB for Lite0; Lightning's other entries are small.
`before` is Lightning's `TorchCheckpointIO` (serialise into memory, write through an fsspec
transaction) into a hidden partial file, then fsync and rename: what `ResumableCheckpoint` did
before `graytransfer.callbacks.checkpoint_io`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from itertools import cycle
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from hydra.utils import instantiate
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO

from bench.common import (
    add_run_arguments,
    autocast,
    compose,
    machine_info,
    median,
    report,
    resolve_device,
    run_cli,
    set_threads,
    sync,
    trainer_override,
)
from bench.loop import seed_all
from graytransfer.callbacks.checkpoint_io import PARTIAL, AtomicCheckpointIO
from graytransfer.run import build_data_and_model

MODES = ("none", "before", "sync", "background")
COLUMNS = ("mode", "trials", "window_ms", "cost_ms", "cost_range_ms", "blocked_ms", "cost_steps")
DRY_RUN = ["model=timm", "model.name=test_efficientnet", "model.pretrained=false"]


def write_before(checkpoint: dict[str, Any], path: Path) -> None:
    """`ResumableCheckpoint`'s write before 2026-12-07: Lightning's default IO into a partial
    file, then fsync and rename."""
    partial = path.with_name(f".{path.name}.before{PARTIAL}")
    TorchCheckpointIO().save_checkpoint(checkpoint, partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(partial, path)


def training_steps(
    cfg: Any, device: str
) -> tuple[Callable[[], None], Callable[[], dict[str, Any]]]:
    """One training step of the configured classifier (zero_grad, forward and loss in the run's
    precision, backward, step) on the next batch of its loader, and the checkpoint of its
    current state."""
    seed_all(cfg.seed)
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    model = model.to(device)
    optimizer, _ = model.build_optimizer(10_000)
    held = [(x.to(device), y.to(device)) for x, y in data.train_dataloader()]
    batches: Iterator = cycle(held)
    precision = str(cfg.trainer.precision)
    model.train()

    def step() -> None:
        images, labels = next(batches)
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, device):
            loss = F.cross_entropy(model(images), labels)
        loss.backward()
        optimizer.step()

    def checkpoint() -> dict[str, Any]:
        return {"state_dict": model.state_dict(), "optimizer_states": [optimizer.state_dict()]}

    return step, checkpoint


def measure(args: argparse.Namespace, folder: Path) -> dict[str, dict[str, list[float]]]:
    """Per mode, each trial's window wall time and time blocked in the save call (seconds)."""
    cfg = compose([trainer_override(args.device), "logger=none", *args.overrides], folder / "run")
    step, checkpoint = training_steps(cfg, args.device)
    writers: dict[str, Callable[[dict[str, Any], Path], None]] = {
        "before": write_before,
        "sync": AtomicCheckpointIO(background=False).save_checkpoint,
    }
    background = AtomicCheckpointIO(background=True)
    writers["background"] = background.save_checkpoint
    times: dict[str, dict[str, list[float]]] = {m: {"window": [], "blocked": []} for m in MODES}
    for _ in range(args.warmup):
        step()
    for trial in range(args.trials):
        order = MODES[trial % len(MODES) :] + MODES[: trial % len(MODES)]
        for mode in order:
            start = time.perf_counter()
            if mode != "none":
                writers[mode](checkpoint(), folder / f"{mode}.ckpt")
            blocked = time.perf_counter() - start
            for _ in range(args.window):
                step()
            sync(args.device)
            background.wait()
            times[mode]["window"].append(time.perf_counter() - start)
            times[mode]["blocked"].append(blocked if mode != "none" else 0.0)
    background.teardown()
    return times


def rows_of(times: dict[str, dict[str, list[float]]], window: int) -> list[dict[str, Any]]:
    """One row per mode: median window, median paired cost (and its range), time blocked, and
    the cost in training steps (the `none` window's median step)."""
    none = times["none"]["window"]
    step_ms = 1000 * median(none) / window
    rows = []
    for mode in MODES:
        costs = [1000 * (w - n) for w, n in zip(times[mode]["window"], none, strict=True)]
        cost = median(costs)
        rows.append(
            {
                "mode": mode,
                "trials": len(costs),
                "window_ms": 1000 * median(times[mode]["window"]),
                "cost_ms": cost,
                "cost_range_ms": f"{min(costs):.0f} to {max(costs):.0f}",
                "blocked_ms": 1000 * median(times[mode]["blocked"]),
                "cost_steps": cost / step_ms,
            }
        )
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.checkpoint_write", description=__doc__)
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--trials", type=int, default=20, help="windows per mode")
    parser.add_argument("--window", type=int, default=8, help="training steps per window")
    parser.add_argument("--warmup", type=int, default=5, help="steps before the first trial")
    parser.add_argument("--dry-run", action="store_true", help="a tiny model, 3 trials of 2 steps")
    add_run_arguments(parser, "checkpoint_write")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.trials, args.window, args.warmup = 3, 2, 1
        args.overrides = [*DRY_RUN, "data.image_size=16", *args.overrides]
    args.device = resolve_device(args.device)
    set_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="gt-bench-ckpt-") as tmp:
        times = measure(args, Path(tmp))
        written = {m: (Path(tmp) / f"{m}.ckpt").stat().st_size for m in MODES if m != "none"}
    rows = rows_of(times, args.window)
    by_mode = {row["mode"]: row for row in rows}
    before, background = by_mode["before"]["cost_ms"], by_mode["background"]["cost_ms"]
    summary = {
        "checkpoint_mb": written["sync"] / 1e6,
        "step_ms": by_mode["none"]["window_ms"] / args.window,
        "background_cost_over_before": background / before if before else None,
    }
    settings = {
        "trials": args.trials,
        "window": args.window,
        "warmup": args.warmup,
        "threads": torch.get_num_threads(),
        "overrides": list(args.overrides),
    }
    notes = [
        "cost = window with the write - the same trial's window without one (median over trials)",
        "blocked = time the training thread spent inside the save call",
    ]
    return report(
        "checkpoint_write",
        machine_info(args.device),
        settings,
        rows,
        COLUMNS,
        args.out,
        summary,
        notes,
    )


if __name__ == "__main__":
    run_cli(main)
