"""What a finished run leaves behind: an atomic `metrics.json` and a one-screen summary."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def to_float(value: Any) -> float | None:
    """A tensor or number as a JSON-safe float (NaN and inf become None)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to `path` via a temporary file and a rename: never a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(payload, handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def print_summary(info: dict[str, Any], console: Console | None = None) -> None:
    """The end-of-run screen: what ran, the monitored metric's best value (the one that chose the
    tested checkpoint), the test metrics, the last epoch's validation metrics (labelled as such)
    and where the outputs are."""
    console = console or Console()
    table = Table(title="graytransfer run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key in ("model", "strategy", "data", "image_size", "seed"):
        table.add_row(key, str(info.get(key)))
    monitor = info.get("monitor") or {}
    if monitor.get("metric") and monitor.get("best") is not None:
        tested = any(name.startswith("test/") for name in info.get("metrics", {}))
        label = _best_label(monitor, tested)
        table.add_row(f"{monitor['metric']} ({label})", f"{monitor['best']:.4f}")
    metrics = info.get("metrics", {})
    for name, value in sorted(metrics.items()):
        if name.startswith("test/") and value is not None:
            table.add_row(name, f"{value:.4f}")
    for name, value in sorted(metrics.items()):
        if name.startswith("val/") and value is not None:
            table.add_row(f"{name} (last epoch)", f"{value:.4f}")
    timing = info.get("timing", {})
    if timing.get("fit_s") is not None:
        table.add_row("fit time", f"{timing['fit_s']:.1f} s")
    table.add_row("outputs", str(info.get("output_dir")))
    if info.get("best_checkpoint"):
        table.add_row("best checkpoint", str(info["best_checkpoint"]))
    if info.get("wandb_dir"):
        table.add_row("W&B run", str(info["wandb_dir"]))
    console.print(table)


def _best_label(monitor: dict[str, Any], tested: bool) -> str:
    """How the summary names the monitored value: the best epoch's (whose checkpoint the test
    used, when there was a test), or without a checkpoint callback the last epoch's."""
    if monitor.get("best_from", "best checkpoint") != "best checkpoint":
        return "last epoch, no checkpoint chosen"
    return "best epoch, the checkpoint tested" if tested else "best epoch"


def publish_record(record: dict[str, Any], output_dir: Path, is_global_zero: bool) -> None:
    """Write `record` as the run's `metrics.json` (atomically) and print its summary, on rank 0
    only: what `train.py` and `python -m graytransfer.tools.evaluate` leave behind."""
    if is_global_zero:
        write_json_atomic(Path(output_dir) / "metrics.json", record)
        print_summary(record)
