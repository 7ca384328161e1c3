"""Framework overhead: `pipeline.train(cfg)` (the function `train.py` runs, Lightning Trainer and
all) against a bare PyTorch loop over the same parts and the same in-memory loader.

    python -m bench.overhead                      # Lite0, digits 32x32, CPU
    python -m bench.overhead --device cuda model=b0 data.image_size=224

Both loops are timestamped at the same points (`StepTimer` callback / `StepRecorder`): a batch
starts once it is fetched and on the device, and ends after the optimiser and schedule step; the
*cycle* (start to next start) is the whole per-batch cost, fetching and logging included; an
epoch runs from its start to the next epoch's start. Validation is off in both loops (the bare
loop has none). The loops run interleaved, rotating their order each repetition, so background
load hits them alike. Trailing arguments are Hydra overrides applied to every loop.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict
from torch.utils.data import DataLoader

from bench.common import (
    add_run_arguments,
    compose,
    machine_info,
    quiet_lightning,
    report,
    resolve_device,
    run_cli,
    set_threads,
    trainer_override,
)
from bench.loop import (
    LightningFloor,
    StepRecorder,
    StepTimer,
    loop_settings,
    seed_all,
    train_bare,
)
from bench.overhead_summary import BARE, COLUMNS, paired_ratio, print_split, summarise
from bench.profiling import profile_shares
from graytransfer.atomic import write_json_atomic
from graytransfer.errors import UserError
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.run import build_data_and_model, train

#: what each Lightning variant adds to the overrides: `lean` has no logger, callbacks, checkpoints
#: or progress bar (what the bare loop does not do either); `user` is `python train.py` as it
#: comes (W&B offline, rich progress bar, best/last checkpoints, LR monitor).
MODES: dict[str, list[str]] = {
    "lean": [
        "logger=none",
        "callbacks=none",
        "trainer.enable_progress_bar=false",
        "++trainer.enable_checkpointing=false",
    ],
    "user": [],
    # as shipped, but each checkpoint written in the training thread (before 2026-12-07 every
    # write was; `user` writes in a background thread)
    "user-sync": ["callbacks.model_checkpoint.write_in_background=false"],
}
#: named override sets. `gpu-sized`: Lite0 (packaged ImageNet weights) at 32x32, batch 4, the
#: whole digits training split per epoch: a bare step of about 30-60 ms CPU time with one
#: thread, the size of B0's 224 px batch-64 bf16 step on an H200 (~46 ms), so the framework's
#: fixed per-batch cost weighs what it weighs on a GPU
PRESETS: dict[str, list[str]] = {"gpu-sized": ["data.batch_size=4"]}
BARE_METRICS = "bare+metrics"
#: Lightning's Trainer (as `lean`) on `bench.loop.LightningFloor`: Lightning's own per-batch cost
FLOOR = "floor"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.overhead", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument(
        "--modes", default="lean,user", help=f"Lightning variants, of {','.join(MODES)}"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (first is warm-up)")
    parser.add_argument("--reps", type=int, default=3, help="interleaved repetitions")
    parser.add_argument("--warmup", type=int, default=5, help="batches dropped from each run")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument(
        "--bare-metrics",
        action="store_true",
        help="also run the bare loop with the module's per-step torchmetrics updates",
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also run Lightning's Trainer (as lean) on a module that only computes the loss: "
        "the per-batch cost of Lightning's own loop",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile one lean fit: the share of time in Lightning, torchmetrics, ...",
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also time one fit of each mode split by component (each callback, logger, "
        "self.log, metric updates, checkpoint writes) with the host syncs each one makes",
    )
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="prepend a preset's overrides (gpu-sized: a 30-60 ms CPU step, see PRESETS)",
    )
    add_run_arguments(parser, "overhead")
    args = parser.parse_args(argv)
    if args.preset:
        args.overrides = [*PRESETS[args.preset], *args.overrides]
    args.modes = [m for m in args.modes.split(",") if m]
    unknown = [m for m in args.modes if m not in MODES]
    if unknown:
        raise UserError(f"--modes: {unknown} not among {list(MODES)}")
    if args.epochs < 1 or args.reps < 1 or args.warmup < 0:
        raise UserError("--epochs and --reps must be at least 1, --warmup at least 0")
    return args


def bench_config(args: argparse.Namespace, device: str, mode: str, out_dir: Path) -> DictConfig:
    """The composed run config of one loop, with the benchmark's fixed settings."""
    cfg = compose(
        [trainer_override(device), *MODES.get(mode, MODES["lean"]), *args.overrides],
        out_dir,
    )
    with open_dict(cfg):
        cfg.trainer.max_epochs = args.epochs
        cfg.trainer.limit_val_batches = 0
        cfg.trainer.num_sanity_val_steps = 0
        cfg.trainer.limit_test_batches = 1
        cfg.trainer.fast_dev_run = False
        if args.limit_batches:
            cfg.trainer.limit_train_batches = args.limit_batches
    return cfg


def run_lightning(
    args: argparse.Namespace, device: str, mode: str, split: bool = False
) -> StepRecorder | dict[str, Any]:
    """`pipeline.train(cfg)` with a `StepTimer` added to the configured callbacks (`split`: a
    `bench.profiling.ComponentTimer` instead, returning its split)."""

    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        timer_out = Path(tmp) / "steps.json"
        cfg = bench_config(args, device, mode, Path(tmp) / "run")
        timer = {"_target_": "bench.loop.StepTimer", "out": str(timer_out), "device": device}
        if split:
            timer = {"_target_": "bench.profiling.ComponentTimer", "out": str(timer_out)}
        with open_dict(cfg):
            if not cfg.get("callbacks"):
                cfg.callbacks = {}
            cfg.callbacks.bench_step_timer = timer
        train(cfg)
        data = json.loads(timer_out.read_text())
        return data if split else StepRecorder.from_dict(data)


def lean_parts(
    args: argparse.Namespace, device: str, tmp: Path
) -> tuple[DictConfig, GrayscaleClassifier, DataLoader, int]:
    """What the bare and the floor loops train: the `lean` run config, its seeded classifier,
    the training loader and the number of optimiser steps of the run."""
    cfg = bench_config(args, device, "lean", tmp / "run")
    seed_all(cfg.seed)
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    loader = data.train_dataloader()
    per_epoch = min(len(loader), args.limit_batches or len(loader))
    return cfg, model, loader, per_epoch * args.epochs


def run_bare(args: argparse.Namespace, device: str, with_metrics: bool) -> StepRecorder:
    """The same classifier trained by a hand-written loop over the same data module's loader;
    `with_metrics` adds the module's own per-step metric updates (and epoch-end compute)."""
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        cfg, model, loader, total_steps = lean_parts(args, device, Path(tmp))
        model = model.to(device)
        optimizer, scheduler = model.build_optimizer(total_steps)
        on_logits = on_epoch_end = None
        if with_metrics:
            metrics = model.train_metrics

            def on_logits(logits, labels):
                metrics.update(logits.softmax(dim=-1), labels)

            def on_epoch_end():
                metrics.compute()
                metrics.reset()

        return train_bare(
            model,
            loader,
            optimizer,
            scheduler,
            epochs=args.epochs,
            device=device,
            **loop_settings(cfg, model),
            limit_batches=args.limit_batches,
            on_logits=on_logits,
            on_epoch_end=on_epoch_end,
        )


def run_floor(args: argparse.Namespace, device: str) -> StepRecorder:
    """The same classifier, loader, optimiser and schedule trained by Lightning's Trainer with
    the `lean` settings, wrapped in `LightningFloor` (forward and loss only, no logging)."""
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        cfg, model, loader, total_steps = lean_parts(args, device, Path(tmp))
        timer = StepTimer(str(Path(tmp) / "steps.json"), device)
        trainer = instantiate(
            cfg.trainer,
            callbacks=[timer],
            logger=False,
            enable_progress_bar=False,
            enable_checkpointing=False,
            enable_model_summary=False,
        )
        floor = LightningFloor(model, total_steps, **loop_settings(cfg, model))
        trainer.fit(floor, train_dataloaders=loader)
        return timer.recorder


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    set_threads(args.threads)
    quiet_lightning()
    lightning_loops = [*([FLOOR] if args.floor else []), *args.modes]
    loops = [BARE, *([BARE_METRICS] if args.bare_metrics else []), *lightning_loops]
    records: dict[str, list[StepRecorder]] = {loop: [] for loop in loops}
    for rep in range(args.reps):
        shift = rep % len(loops)
        for loop in loops[shift:] + loops[:shift]:
            print(f"[overhead] repetition {rep + 1}/{args.reps}: {loop}", flush=True)
            if loop in (BARE, BARE_METRICS):
                records[loop].append(run_bare(args, device, with_metrics=loop == BARE_METRICS))
            elif loop == FLOOR:
                records[loop].append(run_floor(args, device))
            else:
                records[loop].append(run_lightning(args, device, loop))
    cfg = bench_config(args, device, "lean", Path(tempfile.gettempdir()) / "gt-bench-unused")
    batch_size = int(cfg.data.batch_size)
    rows = summarise(records, args.warmup, batch_size)
    settings = {
        "overrides": args.overrides,
        "model": str(cfg.model.name),
        "adapt": str(cfg.adapt._target_),
        "image_size": cfg.data.get("image_size"),
        "batch_size": batch_size,
        "precision": str(cfg.trainer.precision),
        "epochs": args.epochs,
        "reps": args.reps,
        "warmup_batches": args.warmup,
        "limit_batches": args.limit_batches,
        "modes": {m: MODES[m] for m in args.modes},
    }
    by_loop = {r["loop"]: r for r in rows}
    summary: dict[str, Any] = {"goal": "cycle_ratio <= 1.03 on CPU"}
    for mode in lightning_loops:
        summary[f"{mode}_cycle_ratio"] = by_loop[mode]["cycle_ratio"]
        summary[f"{mode}_epoch_ratio"] = by_loop[mode]["epoch_ratio"]
        summary[f"{mode}_cpu_cycle_ratio"] = by_loop[mode]["cpu_cycle_ratio"]
        summary[f"{mode}_cpu_epoch_ratio"] = by_loop[mode]["cpu_epoch_ratio"]
        if BARE_METRICS in by_loop:
            summary[f"{mode}_cycle_ratio_vs_bare+metrics"] = paired_ratio(
                records[mode], records[BARE_METRICS], args.warmup
            )
        if FLOOR in by_loop and mode != FLOOR:
            # what graytransfer adds on top of Lightning's own loop
            summary[f"{mode}_cycle_ratio_vs_floor"] = paired_ratio(
                records[mode], records[FLOOR], args.warmup
            )
    if args.profile:
        with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
            shares = profile_shares(bench_config(args, device, "lean", Path(tmp) / "run"))
        summary.update({f"profile_share {name}": share for name, share in shares.items()})
    splits = {}
    if args.split:
        for mode in args.modes:
            print(f"[overhead] split by component: {mode}", flush=True)
            splits[mode] = run_lightning(args, device, mode, split=True)
            print_split(mode, splits[mode])
    notes = [
        "step = fetched batch on device -> after optimiser+schedule step; cycle = batch start "
        "to next batch start (fetch, hooks and logging included); epoch = epoch start to next "
        "epoch start (end-of-epoch metrics/checkpoints included); validation off in all loops",
        "cycle_ratio: median over repetitions of (loop median / bare median in the same "
        "repetition); fast_cycle_ratio: 10th percentile of all the loop's cycles / that of bare "
        "(the uncontended speed when other jobs share the cores)",
        "cpu_*: the same in process CPU time (all the process's threads; W&B's own writer "
        "process not included): steadier than wall time when other jobs load the cores",
    ]
    payload = report(
        "overhead", machine_info(device), settings, rows, COLUMNS, args.out, summary, notes
    )
    if splits:
        payload["split"] = splits
        write_json_atomic(args.out, payload)
    return payload


if __name__ == "__main__":
    run_cli(main)
