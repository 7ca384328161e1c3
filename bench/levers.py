"""Speed levers, each on/off as a ratio: `channels_last`, `bf16-mixed`, `torch.compile` of the
backbone (compile time reported separately), and all three together. A GPU benchmark.

    python -m bench.levers                        # on a GPU: B0 at native size
    python -m bench.levers --device cpu --image-size 64 --batch-size 16   # info only

Each variant trains graytransfer's model (input module, backbone, head, AdamW) with a bare loop
on one fixed uint8 batch already on the device, so the loader is out of the picture; a fresh
model per variant, variants interleaved over repetitions. Without a GPU and without
`--device cpu` it measures nothing and records "no GPU".
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate

from bench.common import (
    add_run_arguments,
    compose,
    machine_info,
    median,
    report,
    run_cli,
    set_threads,
    trainer_override,
)
from bench.loop import (
    SYNTHETIC_CLASSES,
    seed_all,
    synthetic_batch,
    train_bare,
)
from graytransfer.errors import UserError
from graytransfer.model.build import build_classifier

LEVERS = ("channels_last", "bf16", "compile")
COLUMNS = ("variant", "step_ms", "images_per_s", "ratio", "compile_s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.levers", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--device", default="auto", help="auto (GPU or nothing) | cuda | cpu (information only)"
    )
    parser.add_argument("--model", default="b0", help="conf/model name (default b0)")
    parser.add_argument("--image-size", default="native", help="'native' or an int")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--levers", default=",".join(LEVERS), help="subset of " + ",".join(LEVERS))
    parser.add_argument(
        "--compile-backend", default="inductor", help="torch.compile backend (default inductor)"
    )
    parser.add_argument("--steps", type=int, default=20, help="timed steps per run")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions")
    add_run_arguments(parser, "levers")
    args = parser.parse_args(argv)
    args.levers = [v for v in args.levers.split(",") if v]
    unknown = [v for v in args.levers if v not in LEVERS]
    if unknown:
        raise UserError(f"--levers: {unknown} not among {list(LEVERS)}")
    if args.steps < 1 or args.warmup < 1 or args.reps < 1:
        raise UserError("--steps, --warmup and --reps must be at least 1")
    return args


def variants(levers: Sequence[str]) -> dict[str, set[str]]:
    """`baseline`, one variant per lever, and `all` (when there is more than one lever)."""
    chosen = {"baseline": set()}
    chosen.update({lever: {lever} for lever in levers})
    if len(levers) > 1:
        chosen["all"] = set(levers)
    return chosen


def lever_overrides(on: set[str], backend: str) -> list[str]:
    """The config switches a user flips for these levers (`finetune.*`, `trainer.precision`)."""
    overrides = []
    if "channels_last" in on:
        overrides.append("finetune.channels_last=true")
    if "compile" in on:
        overrides += ["finetune.compile=true", f"finetune.compile_backend={backend}"]
    overrides.append(f"trainer.precision={'bf16-mixed' if 'bf16' in on else '32-true'}")
    return overrides


def run_variant(args: argparse.Namespace, device: str, on: set[str], tmp: Path) -> dict[str, Any]:
    """Fresh model with the levers in `on`; warm-up steps (compile happens here), timed steps."""
    cfg = compose(
        [
            trainer_override(device),
            f"model={args.model}",
            "model.pretrained=false",
            *args.overrides,
            *lever_overrides(on, args.compile_backend),
        ],
        tmp,
    )
    seed_all(cfg.seed)
    backbone = instantiate(cfg.model)
    size = backbone.native_size() if args.image_size == "native" else (int(args.image_size),) * 2
    model = build_classifier(cfg, backbone, class_names=SYNTHETIC_CLASSES, image_size=size).to(
        device
    )
    images, labels = synthetic_batch(args.batch_size, size)
    batch = (images.to(device), labels.to(device))
    optimizer, scheduler = model.build_optimizer(args.warmup + args.steps)
    common = {"device": device, "precision": str(cfg.trainer.precision)}
    warm = train_bare(model, [batch] * args.warmup, optimizer, scheduler, epochs=1, **common)
    timed = train_bare(model, [batch] * args.steps, optimizer, scheduler, epochs=1, **common)
    return {
        "steps_s": timed.steps(0),
        "first_step_s": warm.steps(0)[0],
        "image_size": list(size),
        "model": str(cfg.model.name),
        "adapt": str(cfg.adapt._target_),
        "overrides": lever_overrides(on, args.compile_backend),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "none"
    if args.device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch; use --device cpu")
    if args.device not in ("cuda", "cpu", "none"):
        raise UserError(f"--device: '{args.device}' is not one of auto, cpu, cuda")
    set_threads(args.threads)
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True
    chosen = variants(args.levers)
    info = machine_info(args.device)
    settings: dict[str, Any] = {
        "model": args.model,
        "batch_size": args.batch_size,
        "levers": args.levers,
        "compile_backend": args.compile_backend,
        "steps": args.steps,
        "warmup": args.warmup,
        "reps": args.reps,
        "overrides": args.overrides,
        "cudnn_benchmark": args.device == "cuda",
    }
    if args.device == "none":
        rows = [{c: None for c in COLUMNS} | {"variant": name} for name in chosen]
        summary = {"measured": False, "reason": "no GPU"}
        notes = ["no GPU: nothing measured (run on a GPU, or --device cpu for information)"]
        return report("levers", info, settings, rows, COLUMNS, args.out, summary, notes)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in chosen}
    names = list(chosen)
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        for rep in range(args.reps):
            shift = rep % len(names)
            for name in names[shift:] + names[:shift]:
                print(f"[levers] repetition {rep + 1}/{args.reps}: {name}", flush=True)
                runs[name].append(run_variant(args, args.device, chosen[name], Path(tmp)))
    rows = lever_rows(runs, chosen, args.batch_size)
    settings["image_size"] = runs["baseline"][0]["image_size"]
    settings["model_name"] = runs["baseline"][0]["model"]
    settings["adapt"] = runs["baseline"][0]["adapt"]
    notes = [
        "ratio: baseline step time / variant step time (above 1 = faster); baseline is fp32, "
        "NCHW, eager",
        "compile_s: the first compiled step minus a steady step (forward and backward graphs)",
    ]
    summary: dict[str, Any] = {"measured": True}
    if args.device == "cpu":
        notes.insert(0, "CPU run: information only; the levers are GPU levers")
        summary["information_only"] = "CPU"
    return report("levers", info, settings, rows, COLUMNS, args.out, summary, notes)


def lever_rows(
    runs: dict[str, list[dict[str, Any]]], chosen: dict[str, set[str]], batch_size: int
) -> list[dict[str, Any]]:
    base = median([s for r in runs["baseline"] for s in r["steps_s"]])
    rows = []
    for name, results in runs.items():
        step = median([s for r in results for s in r["steps_s"]])
        compile_s = None
        if "compile" in chosen[name]:
            compile_s = median([r["first_step_s"] - step for r in results])
        rows.append(
            {
                "variant": name,
                "step_ms": step * 1000,
                "images_per_s": batch_size / step,
                "ratio": base / step,
                "compile_s": compile_s,
                "overrides": results[0]["overrides"],
                "steps_s": [s for r in results for s in r["steps_s"]],
            }
        )
    return rows


if __name__ == "__main__":
    run_cli(main)
