"""What a finished run leaves behind: its typed record (`RunRecord`, written by the run folder as
`metrics.json`) and a one-screen summary."""

from __future__ import annotations

import io
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from graytransfer.console import NON_TTY_WIDTH, console_width, to_log_files
from graytransfer.evaluation.subgroup_output import subgroup_table
from graytransfer.run.folder import RunFolder


@dataclass
class RunRecord:
    """A training run's record: what ran, its metrics, the monitored metric's best value and
    where it came from, its checkpoint, folders, status, parent, input cost, timing, machine and
    how the test metrics' confidence intervals were made (`intervals`: method, resampled unit,
    resamples, seed, confidence; None without intervals). `as_dict()` is `metrics.json`, in this
    field order."""

    model: str
    pretrained: bool
    weights: Any
    strategy: str
    data: str
    classes: list[str]
    image_size: list[int]
    seed: int | None
    choices: dict[str, str]
    #: a test metric's interval is `test/<metric>_ci: [low, high]`, beside its value
    metrics: dict[str, float | list[float] | None]
    #: metric, mode, best, best_from ("best checkpoint": the one tested; else "last epoch")
    monitor: dict[str, Any]
    epochs: int
    best_checkpoint: str | None
    output_dir: str
    wandb_dir: str | None
    status: str
    parent: dict[str, Any] | None
    cost: dict[str, Any]
    timing: dict[str, Any]
    machine: dict[str, Any]
    intervals: dict[str, Any] | None = None
    #: calibration=temperature: method, its values, val NLL before/after (None without one)
    calibration: dict[str, Any] | None = None
    #: the test metrics per subgroup, `eval.subgroups` (column -> subgroup -> n, metrics, note)
    subgroups: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_float(value: Any) -> float | None:
    """A tensor or number as a JSON-safe float (NaN and inf become None)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def print_summary(info: dict[str, Any], console: Console | None = None) -> None:
    """The end-of-run screen: what ran, the monitored metric's best value (the one that chose the
    tested checkpoint), the test metrics, the last epoch's validation metrics (labelled as such),
    then where the outputs are: one line each, never wrapped or cut (a path is copied from
    here), the best checkpoint with its value of the monitored metric. The same text goes to the
    run's log file (`graytransfer.console.to_log_files`)."""
    console = console or Console(width=console_width())
    table = summary_table(info)
    lines = summary_paths(info)
    console.print(table)
    groups = subgroup_table(info["subgroups"]) if info.get("subgroups") else None
    if groups:  # after the test summary: every subgroup's size and a few metrics
        console.print(groups)
    for line in lines:
        console.print(line, soft_wrap=True, highlight=False, markup=False)
    plain = Console(file=io.StringIO(), width=NON_TTY_WIDTH, color_system=None)
    plain.print(table)
    if groups:
        plain.print(groups)
    to_log_files("\n".join([plain.file.getvalue().rstrip(), *lines]))


def summary_table(info: dict[str, Any]) -> Table:
    """The summary's table: the run's choices and metrics (paths are `summary_paths`)."""
    table = Table(title="graytransfer run", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key in ("model", "strategy", "data", "image_size", "seed"):
        table.add_row(key, str(info.get(key)))
    if info.get("parent"):
        table.add_row("continued from", f"epoch {info['parent'].get('epochs')} of its parent")
    monitor = info.get("monitor") or {}
    if monitor.get("metric") and monitor.get("best") is not None:
        tested = any(name.startswith("test/") for name in info.get("metrics", {}))
        label = _best_label(monitor, tested)
        table.add_row(f"{monitor['metric']} ({label})", f"{monitor['best']:.4f}")
    metrics = info.get("metrics", {})
    for name, value in sorted(metrics.items()):
        if name.startswith("test/") and isinstance(value, (int, float)):
            table.add_row(name, f"{value:.4f}{_interval(metrics.get(f'{name}_ci'))}")
    for name, value in sorted(metrics.items()):
        if name.startswith("val/") and isinstance(value, (int, float)):
            table.add_row(f"{name} (last epoch)", f"{value:.4f}")
    timing = info.get("timing", {})
    if timing.get("fit_s") is not None:
        table.add_row("fit time", f"{timing['fit_s']:.1f} s")
    return table


def _interval(bounds: Any) -> str:
    """` [low, high]` of a metric's confidence interval, or nothing without one."""
    if isinstance(bounds, (list, tuple)) and len(bounds) == 2 and None not in bounds:
        return f" [{bounds[0]:.4f}, {bounds[1]:.4f}]"
    return ""


def summary_paths(info: dict[str, Any]) -> list[str]:
    """`outputs: <folder>`, `best checkpoint: <path> (<monitor> = <value>)`, `W&B run: <folder>`
    and `parent run: <folder>`, for those the run has."""
    lines = [f"outputs: {info.get('output_dir')}"]
    monitor = info.get("monitor") or {}
    if info.get("best_checkpoint"):
        value = monitor.get("best")
        score = f" ({monitor.get('metric')} = {value:.4f})" if value is not None else ""
        lines.append(f"best checkpoint: {info['best_checkpoint']}{score}")
    if info.get("wandb_dir"):
        lines.append(f"W&B run: {info['wandb_dir']}")
    if info.get("parent"):
        lines.append(f"parent run: {info['parent'].get('run_dir')}")
    return lines


def _best_label(monitor: dict[str, Any], tested: bool) -> str:
    """How the summary names the monitored value: the best epoch's (whose checkpoint the test
    used, when there was a test), or without a checkpoint callback the last epoch's."""
    if monitor.get("best_from", "best checkpoint") != "best checkpoint":
        return "last epoch, no checkpoint chosen"
    return "best epoch, the checkpoint tested" if tested else "best epoch"


def publish_record(record: dict[str, Any], output_dir: Path, is_global_zero: bool) -> None:
    """Write `record` as the run folder's record (`RunFolder.write_record`, atomic) and print its
    summary, on rank 0 only: what `train.py` and `python -m graytransfer.tools.evaluate` leave
    behind."""
    if is_global_zero:
        RunFolder(output_dir).write_record(record)
        print_summary(record)
