"""Scaling with work: training images/s and peak memory for EfficientNet-B0..B5.

    python -m bench.scaling                  # CPU: 64x64, batch 16, fp32
    python -m bench.scaling --device cuda    # GPU: native, timm's batches, bf16, NHWC

Each model (`conf/model/bN.yaml`, random init: speed does not depend on the weights) is trained
by a bare loop over graytransfer's model (input module, backbone, head, AdamW) on one fixed
uint8 batch already on the device. Peak memory is `torch.cuda.max_memory_allocated` on a GPU and
the process's peak RSS (Linux VmHWM, reset before each model) on the CPU. timm's published
training figures (RTX 3090, AMP, NHWC, batch sizes of its own) are listed for reference.
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
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
    peak_memory,
    report,
    resolve_device,
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

#: timm's results/benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv: (images/s, batch, size)
TIMM_RTX3090_TRAIN = {
    "tf_efficientnet_b0": (1779.02, 384, 224),
    "tf_efficientnet_b1": (1099.77, 256, 240),
    "tf_efficientnet_b2": (848.58, 192, 260),
    "tf_efficientnet_b3": (494.58, 128, 300),
    "tf_efficientnet_b4": (241.83, 64, 380),
    "tf_efficientnet_b5": (111.42, 32, 456),
}
COLUMNS = ("model", "params_m", "image_size", "batch", "step_ms", "images_per_s", "peak_mib")
CPU_COLUMNS = (*COLUMNS, "peak_over_start_mib")
GPU_COLUMNS = (*COLUMNS, "timm_rtx3090_img_s")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.scaling", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    parser.add_argument("--models", default="b0,b1,b2,b3,b4,b5", help="conf/model names")
    parser.add_argument(
        "--image-size", default=None, help="'native' or an int (default: CPU 64, GPU native)"
    )
    parser.add_argument(
        "--batch-size",
        default=None,
        help="an int, or 'timm' (timm's benchmark batch per model); default: CPU 16, GPU timm",
    )
    parser.add_argument("--precision", default=None, help="default: CPU 32-true, GPU bf16-mixed")
    parser.add_argument(
        "--channels-last",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="default: on for GPU, off for CPU",
    )
    parser.add_argument(
        "--isolate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="each model in a fresh process, so peak memory is its own (default on)",
    )
    parser.add_argument("--steps", type=int, default=5, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    add_run_arguments(parser, "scaling")
    args = parser.parse_args(argv)
    args.models = [m for m in args.models.split(",") if m]
    if args.steps < 1 or args.warmup < 1:
        raise UserError("--steps and --warmup must be at least 1")
    return args


def with_device_defaults(args: argparse.Namespace, device: str) -> argparse.Namespace:
    gpu = device == "cuda"
    if args.image_size is None:
        args.image_size = "native" if gpu else "64"
    if args.batch_size is None:
        args.batch_size = "timm" if gpu else "16"
    if args.batch_size != "timm":
        try:
            args.batch_size = int(args.batch_size)
        except ValueError:
            raise UserError(f"--batch-size: '{args.batch_size}' is not an int or 'timm'") from None
    if args.precision is None:
        args.precision = "bf16-mixed" if gpu else "32-true"
    if args.channels_last is None:
        args.channels_last = gpu
    return args


def run_model(args: argparse.Namespace, device: str, name: str, tmp: Path) -> dict[str, Any]:
    """Build one model, train it for warm-up + timed steps, measure its peak memory."""
    cfg = compose(
        [
            trainer_override(device),
            f"model={name}",
            "model.pretrained=false",
            f"trainer.precision={args.precision}",
            f"finetune.channels_last={str(args.channels_last).lower()}",
            *args.overrides,
        ],
        tmp,
    )
    gc.collect()
    seed_all(cfg.seed)
    backbone = instantiate(cfg.model)
    size = backbone.native_size() if args.image_size == "native" else (int(args.image_size),) * 2
    reference = TIMM_RTX3090_TRAIN.get(str(cfg.model.name).split(".")[0])
    batch_size = args.batch_size
    if batch_size == "timm":
        if reference is None:
            raise UserError(f"--batch-size timm: timm lists no batch size for {cfg.model.name}")
        batch_size = reference[1]
    images, labels = synthetic_batch(batch_size, size)
    with peak_memory(device) as memory:
        model = build_classifier(cfg, backbone, class_names=SYNTHETIC_CLASSES, image_size=size).to(
            device
        )
        batch = (images.to(device), labels.to(device))
        optimizer, scheduler = model.build_optimizer(args.warmup + args.steps)
        common = {"device": device, "precision": str(cfg.trainer.precision)}
        train_bare(model, [batch] * args.warmup, optimizer, scheduler, epochs=1, **common)
        timed = train_bare(model, [batch] * args.steps, optimizer, scheduler, epochs=1, **common)
    step = median(timed.steps(0))
    params = sum(p.numel() for p in model.parameters())
    del model, optimizer, scheduler, batch
    return {
        "model": str(cfg.model.name),
        "params_m": params / 1e6,
        "image_size": "x".join(str(v) for v in size),
        "batch": batch_size,
        "step_ms": step * 1000,
        "images_per_s": batch_size / step,
        "peak_mib": memory.get("peak_mib"),
        "rss_before_mib": memory.get("rss_before_mib"),
        "peak_over_start_mib": (
            memory["peak_mib"] - memory["rss_before_mib"]
            if memory.get("peak_mib") is not None and "rss_before_mib" in memory
            else None
        ),
        "memory_kind": memory.get("kind"),
        "timm_rtx3090_img_s": reference[0] if reference else None,
        "timm_rtx3090_batch_size": list(reference[1:]) if reference else None,
        "steps_s": timed.steps(0),
    }


def run_isolated(args: argparse.Namespace, device: str, name: str, tmp: Path) -> dict[str, Any]:
    """`run_model` in a fresh Python process, so its peak memory is its own."""
    out = tmp / f"{name}.json"
    command = [
        sys.executable,
        "-m",
        "bench.scaling",
        f"--device={device}",
        f"--models={name}",
        f"--image-size={args.image_size}",
        f"--batch-size={args.batch_size}",
        f"--precision={args.precision}",
        "--channels-last" if args.channels_last else "--no-channels-last",
        f"--steps={args.steps}",
        f"--warmup={args.warmup}",
        f"--threads={args.threads or 0}",
        "--no-isolate",
        f"--out={out}",
    ]
    subprocess.run([*command, *args.overrides], check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())["rows"][0]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    args = with_device_defaults(args, device)
    set_threads(args.threads)
    if device == "cuda":
        torch.backends.cudnn.benchmark = True
    rows = []
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        for name in args.models:
            print(f"[scaling] {name}", flush=True)
            if args.isolate:
                rows.append(run_isolated(args, device, name, Path(tmp)))
            else:
                rows.append(run_model(args, device, name, Path(tmp)))
    settings = {
        "models": args.models,
        "image_size": args.image_size,
        "batch_size": args.batch_size,
        "precision": args.precision,
        "channels_last": args.channels_last,
        "steps": args.steps,
        "warmup": args.warmup,
        "overrides": args.overrides,
        "cudnn_benchmark": device == "cuda",
        "isolate": args.isolate,
    }
    notes = [
        f"peak memory: {rows[0]['memory_kind'] if rows else '-'}"
        + (
            "; peak_mib includes the process itself (torch etc.), peak_over_start_mib is "
            "the rise over the RSS before the model was built"
            + (", each model in a fresh process" if args.isolate else "")
            if device == "cpu"
            else ""
        ),
        "timm_rtx3090_img_s: timm results/benchmark-train-amp-nhwc-pt112-cu113-rtx3090.csv "
        "(native size, timm's own batch sizes); GPU figure not measured here unless this run "
        "was on a GPU",
    ]
    columns = GPU_COLUMNS if device == "cuda" else CPU_COLUMNS
    return report("scaling", machine_info(device), settings, rows, columns, args.out, None, notes)


if __name__ == "__main__":
    run_cli(main)
