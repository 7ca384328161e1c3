"""A peer side by side: the same task, model, image size, epochs and optimiser trained by
(a) this project's `train.py`, (b) a plain PyTorch loop (bench.peer_plain: timm.create_model and
a hand-written loop, no Lightning, no graytransfer model code) and (c) timm's own `train.py`
script from the timm repository (not in the wheel; its path is `--timm-train`, it is never
copied here). Each run is a fresh subprocess, timed whole (imports included); the runners are
interleaved, the order rotated every repetition.

The task: Fashion-MNIST (Debian's dataset-fashion-mnist, offline), the study's split from the
project's own data module at `--seed` (10,000 stratified training images, 1,000 validation, the
full 10,000-image test set), 32x32; tf_efficientnet_lite0 with the packaged ImageNet weights,
its stem summed over RGB to 1 channel (graytransfer adapt=sum = timm's adapt_input_conv);
normalised (x/255 - 0.5)/0.5; no augmentation; AdamW lr 1e-3, weight decay 0.01, batch 64, head
dropout 0.2; warm-up + cosine per step; validation once per epoch. All three see the same
pixels: (b) reads the arrays, (c) PNGs of them (read back and compared when written; timm's own
no-aug transforms checked to return them), and (a)'s run records its split (split.csv), which
must list the same source images.

Test accuracy: (b) and (c) test the final model; (a) tests what train.py tests by default, the
checkpoint best on the 1,000 validation images (the JSON says which epoch that was). (c)'s
per-epoch evaluation IS the test set (its `validation` folder), its final top1 read from
summary.csv. Remaining differences (also in the JSON's `differences`): see DIFFERENCES.

    python -m bench.peer --timm-train /tmp/timm_train.py --reps 1 --out bench/results/cpu/peer.json
    python -m bench.peer --timm-train /tmp/timm_train.py --quick      # 1024 images, 1 epoch
Tests run (a) and (b) for real (quick mode) and (c) through a stand-in script: its plumbing.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import machine_info, median, report, run_cli, trainer_override
from bench.peer_data import TIMM_FOLDERS, data_overrides, prepare
from graytransfer.errors import UserError

REPO = Path(__file__).resolve().parents[1]
RUNNERS = ("train.py", "plain loop", "timm train.py")
MODEL = "tf_efficientnet_lite0"
FULL = {"train": 10000, "val": 1000, "test": None, "epochs": 2, "batch": 64, "lr": 1e-3}
#: tests and a first look: size, batch and lr only; 32 steps, test acc 0.67 (train.py) and 0.59
#: (plain loop) at seed 0, chance 0.1: half the compute of 2 epochs at 64, lr 1e-3 (0.58, 0.42)
QUICK = {"train": 1024, "val": 64, "test": 256, "epochs": 1, "batch": 32, "lr": 3e-3}
DIFFERENCES = [
    "checkpoint tested: train.py tests the best-on-validation checkpoint (its default); the plain "
    "loop and timm's script report the final model",
    "timm's script evaluates the 10,000 test images every epoch (its only eval set) and never "
    "sees the 1,000 validation images; train.py and the plain loop validate on those 1,000 "
    "once per epoch and test once at the end (train.py also runs 2 sanity validation batches)",
    "warm-up: timm's script counts it in whole epochs (--warmup-epochs is an int), so it runs "
    "cosine from the first step without warm-up; the others warm up linearly over 5% of steps",
    "weight decay: timm's create_optimizer_v2 exempts biases and norm weights; the others do not",
    "last partial batch: timm's loader drops it (drop_last); train.py and the plain loop keep it",
    "data: timm's script decodes PNGs with PIL every epoch (--workers loader processes); "
    "train.py and the plain loop hold uint8 arrays in memory",
    "classifier init: timm's EfficientNet init for (b) and (c), torch.nn.Linear's for train.py",
    "outputs: train.py best/last checkpoints, CSV metrics, run record; timm a checkpoint per "
    "epoch and summary.csv; the plain loop only its JSON",
    "random streams differ (shuffling, dropout): one seed is one sample of each runner",
]


def train_py_command(args: argparse.Namespace, sizes: dict, run_dir: Path) -> list[str]:
    """(a): train.py on the study's Fashion-MNIST split with the shared recipe."""
    data = data_overrides(
        sizes["train"], sizes["val"], sizes["test"], args.image_size, sizes["batch"], args.seed
    )
    return [
        sys.executable,
        str(REPO / "train.py"),
        *data,
        *args.data_dir_override,
        f"data.num_workers={args.workers}",
        f"trainer.precision={args.precision}",
        "model=lite0",
        "adapt=sum",
        f"optim.lr={sizes['lr']}",
        "optim.weight_decay=0.01",
        "head.drop_rate=0.2",
        "scheduler=cosine",
        trainer_override(args.device),
        f"trainer.max_epochs={sizes['epochs']}",
        "trainer.enable_progress_bar=false",
        "logger=csv",
        "~callbacks.rich_progress_bar",
        "~callbacks.confusion_matrix",
        "~callbacks.input_preview",
        f"hydra.run.dir={run_dir}",
    ]


def plain_command(args: argparse.Namespace, sizes: dict, work: Path, out: Path) -> list[str]:
    """(b): the hand-written loop on the exported arrays."""
    return [
        sys.executable, "-m", "bench.peer_plain",
        "--split", str(work / "split.npz"), "--weights", str(work / "lite0_in1k.pth"),
        "--out", str(out), "--model", MODEL, "--epochs", str(sizes["epochs"]),
        "--batch-size", str(sizes["batch"]), "--lr", str(sizes["lr"]),
        "--weight-decay", "0.01", "--drop", "0.2",
        "--seed", str(args.seed), "--device", args.device, "--precision", args.precision,
    ]  # fmt: skip


def timm_command(
    script: Path, args: argparse.Namespace, sizes: dict, work: Path, out: Path, name: str
) -> list[str]:
    """(c): timm's train.py on the exported ImageFolder (its `validation` split = our test)."""
    size, device = str(getattr(args, "image_size", 32)), getattr(args, "device", "cpu")
    bf16 = getattr(args, "precision", "32-true") == "bf16-mixed"
    amp = ["--amp", "--amp-dtype", "bfloat16"] if bf16 else []
    return [
        sys.executable, str(script),
        "--data-dir", str(work / "images"),
        "--train-split", TIMM_FOLDERS["train"], "--val-split", TIMM_FOLDERS["test"],
        "--model", MODEL, "--pretrained", "--pretrained-path", str(work / "lite0_in1k.pth"),
        "--in-chans", "1", "--num-classes", "10", "--input-size", "1", size, size,
        "--crop-pct", "1.0", "--mean", "0.5", "--std", "0.5", "--input-img-mode", "L",
        "--no-aug", "--smoothing", "0",
        "--opt", "adamw", "--lr", str(sizes["lr"]), "--weight-decay", "0.01",
        "--sched", "cosine", "--sched-on-updates", "--warmup-epochs", "0", "--min-lr", "1e-05",
        "--drop", "0.2", "--batch-size", str(sizes["batch"]), "--epochs", str(sizes["epochs"]),
        "--workers", str(args.workers), "--seed", str(args.seed),
        "--output", str(out), "--experiment", name, "--log-interval", "50",
        "--checkpoint-hist", "1", "--no-prefetcher", "--device", device, *amp,
    ]  # fmt: skip


def timed(argv: list[str], log: Path) -> float:
    """Wall seconds of one subprocess (run in the repo root); its output goes to `log`."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "offline"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    started = time.perf_counter()
    with open(log, "w") as handle:
        done = subprocess.run(argv, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        tail = log.read_text()[-1500:]
        raise RuntimeError(f"{' '.join(argv[:3])} ... exited {done.returncode}: {tail}")
    return wall


def read_train_py(run_dir: Path, ids: dict[str, list[str]]) -> dict[str, Any]:
    """test/acc, fit time and the split check from (a)'s run folder."""
    record = json.loads((run_dir / "metrics.json").read_text())
    recorded: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    with open(run_dir / "split.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            recorded[row["split"]].append(row["id"])
    same = all(sorted(recorded[s]) == sorted(ids[s]) for s in recorded)
    monitor = record["monitor"]
    return {
        "test_acc": record["metrics"]["test/acc"],
        "train_s": record["timing"]["fit_s"],
        "same_split": same,
        "split_counts": {s: len(v) for s, v in recorded.items()},
        "tested": f"{monitor.get('best_from')}, {monitor.get('metric')}={monitor.get('best')}",
        # the last epoch's value of the monitored metric: equal to `best` when the tested
        # checkpoint is the final model
        "last_monitor_value": record["metrics"].get(monitor.get("metric")),
    }


def read_timm(summary: Path) -> dict[str, Any]:
    """The last epoch's eval_top1 (percent) of timm's summary.csv, as a fraction."""
    with open(summary, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows or "eval_top1" not in rows[-1]:
        raise RuntimeError(f"{summary}: no eval_top1 row")
    return {
        "test_acc": float(rows[-1]["eval_top1"]) / 100,
        "train_s": None,
        "epochs_run": len(rows),
        "tested": "final model (last epoch's eval on the test folder)",
    }


def run_one(runner: str, rep: int, args: argparse.Namespace, sizes: dict, work: Path,
            prepared: dict) -> dict[str, Any]:  # fmt: skip
    tag = f"{runner.replace(' ', '_').replace('.', '_')}_rep{rep}"
    log = work / "logs" / f"{tag}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    if runner == "train.py":
        run_dir = work / "runs" / tag
        argv = train_py_command(args, sizes, run_dir)
        wall = timed(argv, log)
        result = read_train_py(run_dir, prepared["ids"])
    elif runner == "plain loop":
        out = work / "runs" / f"{tag}.json"
        argv = plain_command(args, sizes, work, out)
        wall = timed(argv, log)
        result = json.loads(out.read_text())
        result["tested"] = "final model"
        result["same_split"] = result["split_counts"] == prepared["split_counts"]
    else:
        out = work / "runs"
        argv = timm_command(args.timm_train, args, sizes, work, out, tag)
        wall = timed(argv, log)
        result = read_timm(out / tag / "summary.csv")
        images = prepared["image_folder"]["images"]
        result["split_counts"] = {"train": images["train"], "test": images["validation"]}
        result["same_split"] = images["train"] == prepared["split_counts"]["train"]
    return {"runner": runner, "rep": rep, "wall_s": wall, "command": argv, "log": str(log),
            **result}  # fmt: skip


def interleaved(runners: Sequence[str], reps: int) -> list[tuple[int, str]]:
    """(rep, runner) in run order: every runner once per repetition, the order rotated by one
    each repetition, so a burst of load on a shared machine does not always hit the same one."""
    order = []
    for rep in range(reps):
        shift = rep % len(runners)
        order += [(rep, runner) for runner in [*runners[shift:], *runners[:shift]]]
    return order


def script_record(path: Path) -> dict[str, Any]:
    return {"path": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


def summarise(runs: list[dict[str, Any]], runners: Sequence[str]) -> list[dict[str, Any]]:
    """One row per runner: median wall/train time over the repetitions, mean test accuracy."""
    rows = []
    for runner in runners:
        mine = [r for r in runs if r["runner"] == runner]
        trains = [r["train_s"] for r in mine if r.get("train_s") is not None]
        rows.append({
            "runner": runner,
            "test_acc": sum(r["test_acc"] for r in mine) / len(mine),
            "wall_s": median([r["wall_s"] for r in mine]),
            "train_s": median(trains) if trains else None,
            "reps": len(mine),
            "tested": mine[0]["tested"],
            "same_split": all(r["same_split"] for r in mine),
        })  # fmt: skip
    plain = next((r for r in rows if r["runner"] == "plain loop"), None)
    for row in rows:
        row["ratio_to_plain"] = row["wall_s"] / plain["wall_s"] if plain else None
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timm-train", type=Path, default=None, help="timm's train.py")
    parser.add_argument("--runners", default=",".join(RUNNERS), help="comma-separated subset")
    parser.add_argument("--epochs", type=int, default=None, help="default 2 (quick: 1)")
    parser.add_argument("--reps", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=0, help="loader workers of (a) and (c)")
    parser.add_argument("--quick", action="store_true", help="1024/64/256 images, 1 epoch")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--precision", default="32-true", choices=("32-true", "bf16-mixed"))
    parser.add_argument("--sizes", default=None, help="TRAIN,VAL,TEST images (overrides preset)")
    parser.add_argument("--note", action="append", default=[], help="a line for the record")
    parser.add_argument("--data-dir", default=None, help="paths.data_dir (Fashion-MNIST)")
    parser.add_argument("--work", type=Path, default=REPO / "outputs/bench/peer")
    parser.add_argument("--out", type=Path, default=REPO / "outputs/bench/peer.json")
    args = parser.parse_args(argv)
    runners = [r.strip() for r in args.runners.split(",") if r.strip()]
    if unknown := [r for r in runners if r not in RUNNERS]:
        raise UserError(f"--runners: {unknown} not among {list(RUNNERS)}")
    if "timm train.py" in runners and (args.timm_train is None or not args.timm_train.is_file()):
        raise UserError(
            f"--timm-train: '{args.timm_train}' is not a file; pass the path of train.py from "
            "a checkout of github.com/huggingface/pytorch-image-models (or leave out "
            "'timm train.py' from --runners)"
        )
    sizes = dict(QUICK if args.quick else FULL)
    sizes["epochs"] = args.epochs or sizes["epochs"]
    if args.sizes:
        sizes.update(zip(("train", "val", "test"), map(int, args.sizes.split(",")), strict=True))
    info = machine_info(args.device)
    args.data_dir_override = [f"paths.data_dir={args.data_dir}"] if args.data_dir else []
    overrides = data_overrides(sizes["train"], sizes["val"], sizes["test"], args.image_size,
                               sizes["batch"], args.seed) + args.data_dir_override  # fmt: skip
    prepared = prepare(overrides, args.work)
    shutil.rmtree(args.work / "runs", ignore_errors=True)  # timm renames a taken folder
    if "timm train.py" in runners:
        from bench.peer_check import check_timm_pixels

        check_timm_pixels(args.work)
    runs = [run_one(runner, rep, args, sizes, args.work, prepared) for rep, runner in
            interleaved(runners, args.reps)]  # fmt: skip
    rows = summarise(runs, runners)
    settings = {
        "sizes": sizes,
        "seed": args.seed,
        "workers": args.workers,
        "device": args.device,
        "image_size": args.image_size,
        "precision": args.precision,
        "quick": args.quick,
        "reps": args.reps,
        "data_overrides": overrides,
        "split_counts": prepared["split_counts"],
        "class_counts": prepared["class_counts"],
        "timm_train": script_record(args.timm_train) if args.timm_train else None,
        "differences": DIFFERENCES,
        "runs": runs,
    }
    columns = ["runner", "test_acc", "wall_s", "train_s", "ratio_to_plain"]
    notes = [
        "wall_s: the whole subprocess (imports included), median over reps; train_s: fit time "
        "with per-epoch validation (train.py metrics.json timing.fit_s, the plain loop's own "
        "clock), unknown for timm's script",
        "test_acc: mean over reps; " + "; ".join(f"{r['runner']}: {r['tested']}" for r in rows),
        *args.note,
    ]
    return report("peer", info, settings, rows, columns, args.out, notes=notes)


if __name__ == "__main__":
    run_cli(main)
