"""What the confidence intervals add to a run: the wall and CPU time of the whole interval step
for each task at 1k, 10k (and 100k) test images.

    python -m bench.bootstrap_cost                         # 1k and 10k images, every task
    python -m bench.bootstrap_cost --sizes 100000 --tasks binary
    python -m bench.bootstrap_cost --profile               # + cProfile's top calls, per row
    python -m bench.bootstrap_cost --dry-run               # tiny, a few resamples (the tests)

The step is what `graytransfer.run.evaluation.evaluate_test_split` runs after the test: the
intervals of every headline metric with ECE and Brier (`Bootstrap.intervals`, 1000 resamples by
default) and, for one subgroup column with 3 subgroups, every metric per subgroup with its
interval and gap (`subgroup_metrics`). The predictions are synthetic but shaped like a model's
(float32 probabilities): multiclass with 10 classes, binary, and multilabel with 5 labels (5% of
the targets unknown). Each row gives the wall seconds of the whole-set intervals, of the
subgroups, and of both (`total_s`), and the CPU seconds of both (`time.process_time`: steadier
than wall time when other jobs share the cores); the load average is in the machine line.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import machine_info, report
from graytransfer.evaluation.bootstrap import Bootstrap
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.subgroups import subgroup_metrics

TASKS = ("multiclass", "binary", "multilabel")
CLASSES, LABELS, SUBGROUPS = 10, 5, ("A", "B", "C")
COLUMNS = (
    "task",
    "images",
    "resamples",
    "subgroups",
    "intervals_s",
    "subgroups_s",
    "total_s",
    "cpu_s",
)


def synthetic(task: str, n: int, seed: int = 0) -> Predictions:
    """`n` test images' predictions for `task`, informative (AUROC well above 0.5), float32
    probabilities as a model gives them."""
    rng = np.random.default_rng(seed)
    ids = [str(i) for i in range(n)]
    if task == "multiclass":
        labels = rng.integers(0, CLASSES, n)
        logits = rng.normal(size=(n, CLASSES))
        logits[np.arange(n), labels] += 1.5
        probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
        names = [f"c{k}" for k in range(CLASSES)]
        return Predictions(task, names, names, probs.astype(np.float32), labels, ids)
    outputs = 1 if task == "binary" else LABELS
    truth = rng.integers(0, 2, (n, outputs))
    probs = 1 / (1 + np.exp(-(1.5 * truth - 0.75 + rng.normal(size=(n, outputs)))))
    if task == "binary":
        labels, names, classes = truth[:, 0], ["pos"], ["neg", "pos"]
    else:
        labels = np.where(rng.random((n, outputs)) < 0.05, -1, truth)
        names = classes = [f"l{k}" for k in range(outputs)]
    thresholds = np.full(outputs, 0.5)
    return Predictions(task, names, classes, probs.astype(np.float32), labels, ids, thresholds)


def subgroup_labels(n: int, seed: int = 1) -> dict[str, list[str]]:
    """One subgroup column (`Site`) with 3 subgroups of unequal size (50%, 30%, 20%)."""
    rng = np.random.default_rng(seed)
    return {"Site": list(rng.choice(SUBGROUPS, size=n, p=[0.5, 0.3, 0.2]))}


def measure(preds: Predictions, bootstrap: Bootstrap, profile: bool) -> dict[str, Any]:
    """Time the interval step on `preds` (see the module docstring); with `profile`, also the
    top cumulative calls under cProfile (a separate, untimed pass)."""
    labels = subgroup_labels(len(preds))
    cpu, start = time.process_time(), time.perf_counter()
    bootstrap.intervals(preds, run_seed=0)
    middle = time.perf_counter()
    found = subgroup_metrics(preds, labels, bootstrap, run_seed=0)
    end = time.perf_counter()
    row = {
        "subgroups": sum(len(column) for column in found.values()),
        "intervals_s": middle - start,
        "subgroups_s": end - middle,
        "total_s": end - start,
        "cpu_s": time.process_time() - cpu,
    }
    if profile:
        profiler = cProfile.Profile()
        profiler.enable()
        bootstrap.intervals(preds, run_seed=0)
        subgroup_metrics(preds, labels, bootstrap, run_seed=0)
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(15)
        print(f"\n### profile: {preds.task}, {len(preds)} images\n{text.getvalue()}")
    return row


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench.bootstrap_cost", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--bootstrap", type=int, default=1000, help="resamples (eval.bootstrap)")
    parser.add_argument("--profile", action="store_true", help="print cProfile's top calls")
    parser.add_argument("--out", type=Path, default=Path("bench/results/cpu/bootstrap_cost.json"))
    parser.add_argument("--dry-run", action="store_true", help="60 images, 20 resamples")
    args = parser.parse_args(argv)
    if args.dry_run:
        args.sizes, args.bootstrap = [60], 20
    bootstrap = Bootstrap(args.bootstrap, seed=0)
    load_before = os.getloadavg()
    rows = []
    for size in args.sizes:
        for task in args.tasks:
            row = {"task": task, "images": size, "resamples": args.bootstrap}
            row.update(measure(synthetic(task, size), bootstrap, args.profile))
            rows.append(row)
    settings = {
        "sizes": args.sizes,
        "tasks": args.tasks,
        "bootstrap": args.bootstrap,
        "subgroups": {"columns": 1, "subgroups": len(SUBGROUPS)},
        "load_average_before": list(load_before),
    }
    notes = [
        f"load average before {', '.join(f'{v:.2f}' for v in load_before)}, after "
        f"{', '.join(f'{v:.2f}' for v in os.getloadavg())} (above the core count: other jobs)"
    ]
    return report("bootstrap_cost", machine_info("cpu"), settings, rows, COLUMNS, args.out,
                  notes=notes)  # fmt: skip


if __name__ == "__main__":
    main()
