"""Every adaptation strategy (conf/adapt/*) and random init, at 224 px, 3 paired seeds, several
`train.py` runs sharing one GPU at a time (conf/experiment/strategies_gpu.yaml), inside a
deadline, so the whole comparison fits one 10-minute call on a lent GPU (run_gpu.sh part
`strategies`).

    python -m bench.gpu_strategies --out $OUT/strategies_gpu.json --tar $OUT/strategies_gpu.tar.gz
    python -m bench.gpu_strategies --tiny --strategies repeat,random --seeds 0   # CPU dry-run
    python -m bench.gpu_strategies --plan                      # the commands, nothing run

Runs go seed-major (every strategy for seed 0, then seed 1, ...), so a deadline cuts the last
seed, never a strategy's only one, and the finished seeds stay paired. `--parallel` runs share
the GPU; without MPS its processes are time-sliced, which pays because a Lite0 step at batch 64
is bound by the Python/launch side (B0: ~46 ms a bare step, the GPU busy a fraction of it), so
the other processes fill the gaps; 4 (the default) leaves 4 of the lent box's 16 cores to each
(OMP_NUM_THREADS) and ~5 GB of GPU memory each is nothing. No run starts when the time left is
below the median time of a finished run; at the deadline the runs still going are stopped and
recorded as such, and the record is written anyway. Results: one row per strategy (mean test
accuracy over its seeds, the paired difference to `repeat`), every run's outcome and metrics,
and the run folders without checkpoints as a .tar.gz.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.collect_study import pack, run_rows
from bench.common import machine_info, report, run_cli
from graytransfer.config import conf_dir
from graytransfer.errors import UserError

REPO = Path(__file__).resolve().parents[1]
RANDOM = "random"  # random init: the default adapt (repeat) with model.pretrained=false
#: the CPU dry-run: the same commands at a size a 2-core box trains in seconds
TINY = [
    "trainer=cpu",
    "trainer.precision=32-true",
    "data.image_size=32",
    "data.batch_size=16",
    "data.train_subset=32",
    "data.val_subset=16",
    "data.test_subset=16",
    "trainer.max_epochs=1",
]
COLUMNS = ("strategy", "seeds", "test_acc", "test_acc_by_seed", "minus_repeat", "fit_s")


def strategies() -> list[str]:
    """Every conf/adapt choice, then random init."""
    return [*sorted(p.stem for p in (conf_dir() / "adapt").glob("*.yaml")), RANDOM]


def plan(names: Sequence[str], seeds: Sequence[int], runs_dir: Path,
         extra: Sequence[str]) -> list[dict[str, Any]]:  # fmt: skip
    """One entry per run, seed-major: label, seed, its folder and its train.py command."""
    known = strategies()
    if unknown := [n for n in names if n not in known]:
        raise UserError(f"--strategies: {unknown} not among {known}")
    runs = []
    for seed in seeds:
        for name in names:
            choice = ["adapt=repeat", "model.pretrained=false"] if name == RANDOM else [
                f"adapt={name}"]  # fmt: skip
            folder = runs_dir / name / f"seed_{seed}"  # Hydra reads "=" in a value as syntax
            command = [sys.executable, str(REPO / "train.py"), "experiment=strategies_gpu",
                       *choice, f"seed={seed}", *extra, f"hydra.run.dir={folder}"]  # fmt: skip
            runs.append({"strategy": name, "seed": seed, "folder": folder, "command": command})
    return runs


def child_env(parallel: int) -> dict[str, str]:
    threads = max(1, (os.cpu_count() or 1) // parallel)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1",
           "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL after 5 s, to the run and its children (its own session)."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
            process.wait(wait)
            return
        except (ProcessLookupError, subprocess.TimeoutExpired):
            continue


def execute(runs: list[dict[str, Any]], parallel: int, deadline_s: float,
            logs: Path) -> list[dict[str, Any]]:  # fmt: skip
    """Run `runs` `parallel` at a time until `deadline_s`; each run gains status, rc, wall_s,
    start_s (since the first start) and its log."""
    logs.mkdir(parents=True, exist_ok=True)
    env, started, queue, going, walls = child_env(parallel), time.perf_counter(), list(runs), [], []
    for run in runs:
        run.update(status="not started", rc=None, wall_s=None, start_s=None)
    while queue or going:
        elapsed = time.perf_counter() - started
        left = deadline_s - elapsed
        while queue and len(going) < parallel and left > (statistics.median(walls) if walls
                                                          else 0):  # fmt: skip
            run = queue.pop(0)
            run["log"] = str(logs / f"{run['strategy']}_seed{run['seed']}.log")
            with open(run["log"], "w") as handle:
                run["process"] = subprocess.Popen(
                    run["command"],
                    cwd=REPO,
                    env=env,
                    stdout=handle,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            run["start_s"], run["status"] = elapsed, "running"
            print(f"[strategies] {elapsed:6.1f} s start {run['strategy']} seed {run['seed']}",
                  flush=True)  # fmt: skip
            going.append(run)
        if not going:
            break  # what is queued cannot finish in the time left
        time.sleep(0.2)
        now = time.perf_counter() - started
        for run in list(going):
            process = run["process"]
            if process.poll() is None and now < deadline_s:
                continue
            if process.poll() is None:
                stop(process)
                run["status"] = "stopped at deadline"
            else:
                run["status"] = "ok" if process.returncode == 0 else "failed"
                if process.returncode == 0:
                    walls.append(now - run["start_s"])
            run["rc"], run["wall_s"] = process.returncode, now - run["start_s"]
            print(f"[strategies] {now:6.1f} s {run['status']}: {run['strategy']} seed "
                  f"{run['seed']} ({run['wall_s']:.0f} s)", flush=True)  # fmt: skip
            going.remove(run)
            del run["process"]
    return runs


def summarise(runs: list[dict[str, Any]], names: Sequence[str]) -> list[dict[str, Any]]:
    """One row per strategy: mean test accuracy over its finished seeds, and the mean paired
    difference to `repeat` over the seeds both finished."""
    acc = {(r["strategy"], r["seed"]): r["test_acc"] for r in runs if r.get("test_acc") is not None}
    rows = []
    for name in names:
        mine = {seed: value for (label, seed), value in acc.items() if label == name}
        paired = [v - acc[("repeat", s)] for s, v in mine.items() if ("repeat", s) in acc]
        fits = [r["fit_s"] for r in runs if r["strategy"] == name and r.get("fit_s") is not None]
        rows.append({
            "strategy": name,
            "seeds": len(mine),
            "test_acc": statistics.fmean(mine.values()) if mine else None,
            "test_acc_by_seed": {str(s): round(v, 4) for s, v in sorted(mine.items())} or None,
            "minus_repeat": statistics.fmean(paired) if paired and name != "repeat" else None,
            "fit_s": statistics.median(fits) if fits else None,
        })  # fmt: skip
    return rows


def main(argv: Sequence[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_strategies",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    parser.add_argument("--strategies", default="all", help="comma-separated, or all")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--parallel", type=int, default=4, help="runs sharing the GPU at once")
    parser.add_argument("--deadline-s", type=float, default=460, help="stop runs after this")
    parser.add_argument("--tiny", action="store_true", help="CPU dry-run: 32 px, 32 images")
    parser.add_argument("--plan", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--runs-dir", type=Path, default=REPO / "outputs/strategies_gpu")
    parser.add_argument("--out", type=Path, default=REPO / "outputs/bench/strategies_gpu.json")
    parser.add_argument("--tar", type=Path, default=None, help="the run folders, no checkpoints")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run")
    args = parser.parse_args(argv)
    if args.parallel < 1:
        raise UserError(f"--parallel: {args.parallel} must be at least 1")
    names = strategies() if args.strategies == "all" else args.strategies.split(",")
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = [*(TINY if args.tiny else []), *args.overrides]
    runs = plan(names, seeds, args.runs_dir, extra)
    if args.plan:
        for run in runs:
            print(" ".join(run["command"]))
        return None
    started = time.perf_counter()
    execute(runs, args.parallel, args.deadline_s, args.runs_dir / "logs")
    wall = time.perf_counter() - started
    found = {row["run"]: row for row in run_rows(args.runs_dir)} if args.runs_dir.is_dir() else {}
    images = 0.0
    for run in runs:
        row = found.get(str(run["folder"].relative_to(args.runs_dir)), {})
        run.update({k: row.get(k) for k in ("test_acc", "val_acc", "fit_s", "train_images_per_s")})
        if run["fit_s"] and run["train_images_per_s"]:
            images += run["fit_s"] * run["train_images_per_s"]
        run["folder"] = str(run["folder"])
    if args.tar is not None and args.runs_dir.is_dir():
        pack(args.runs_dir, args.tar)
    counts = {s: sum(r["status"] == s for r in runs) for s in {r["status"] for r in runs}}
    summary = {"runs": len(runs), "wall_s": wall, "train_images_per_s_all_runs": images / wall,
               **{f"runs {k}": v for k, v in sorted(counts.items())}}  # fmt: skip
    threads = child_env(args.parallel)["OMP_NUM_THREADS"]
    settings = {"strategies": names, "seeds": seeds, "parallel": args.parallel,
                "deadline_s": args.deadline_s, "tiny": args.tiny, "overrides": extra,
                "omp_threads": threads, "runs": runs}  # fmt: skip
    device = "cpu" if "trainer=cpu" in extra else "cuda"
    notes = [
        "test_acc: each run tests its best-on-validation checkpoint; mean over finished seeds",
        "minus_repeat: mean paired difference to adapt=repeat over the seeds both finished",
        "train_images_per_s_all_runs: training images of all finished runs / the whole wall "
        f"time, {args.parallel} runs sharing the device",
    ]
    return report("strategies_gpu", machine_info(device), settings, summarise(runs, names),
                  COLUMNS, args.out, summary, notes)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
