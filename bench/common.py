"""What every benchmark shares: the machine record, Markdown tables, JSON output, peak memory,
the device/precision switches and the real config composed from `conf/`."""

from __future__ import annotations

import argparse
import contextlib
import re
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig

from graytransfer.atomic import write_json_atomic
from graytransfer.cli import exit_on_user_error
from graytransfer.config import compose as compose_config
from graytransfer.errors import UserError
from graytransfer.run.machine import machine_record

PRECISIONS = ("32-true", "bf16-mixed", "16-mixed")


def now() -> float:
    return time.perf_counter()


def machine_info(device: str) -> dict[str, Any]:
    """Where a number came from (`graytransfer.run.machine.machine_record`) and the command."""
    return {**machine_record(device), "command": command_line()}


def command_line() -> str:
    """How this process was started, as `python -m bench.NAME ARGS` for a bench."""
    script = Path(sys.argv[0]) if sys.argv else Path("")
    args = [shlex.quote(a) for a in sys.argv[1:]]
    if script.parent == Path(__file__).resolve().parent:
        return " ".join(["python", "-m", f"bench.{script.stem}", *args])
    return " ".join(["python", shlex.quote(str(script)), *args])


def machine_line(info: dict[str, Any]) -> str:
    gpu = info["gpu"] or "no GPU"
    load = ", ".join(str(v) for v in info["load_average_1_5_15"])
    return (
        f"{info['utc']} | {info['nproc']} CPU ({info['cpu_model']}), {info['torch_threads']} "
        f"torch threads, {gpu} | load average {load} | torch {info['torch']}"
    )


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.3f}"
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as a Markdown table with `columns` (missing values print as an en dash)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
    lines += ["| " + " | ".join(fmt(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def report(
    name: str,
    info: dict[str, Any],
    settings: dict[str, Any],
    rows: list[dict[str, Any]],
    columns: Sequence[str],
    out: Path,
    summary: dict[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Print the table (with the machine line and notes) and write the JSON record to `out`."""
    payload = {
        "benchmark": name,
        "machine": info,
        "settings": settings,
        "columns": list(columns),
        "rows": rows,
        "summary": summary or {},
        "notes": list(notes),
    }
    print(f"\n## {name}\n\n{machine_line(info)}\n")
    print(markdown_table(rows, columns))
    for key, value in (summary or {}).items():
        print(f"{key}: {fmt(value)}")
    for note in notes:
        print(f"note: {note}")
    write_json_atomic(out, payload)
    print(f"\nwrote {out}")
    return payload


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def fast(values: list[float], quantile: float = 0.1) -> float | None:
    """The `quantile` (10th percentile) of `values`: the cycle time when other processes leave
    the cores alone, the steadier statistic on a shared machine."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(int(quantile * len(ordered)), len(ordered) - 1)]


def resolve_device(device: str) -> str:
    """`auto` -> `cuda` when a GPU is visible, else `cpu`; `cuda` without a GPU is an error."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda"):
        raise UserError(f"--device: '{device}' is not one of auto, cpu, cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda: no CUDA GPU is visible to torch; use --device cpu")
    return device


def sync(device: str) -> None:
    """Wait for queued GPU work so a timestamp means the work before it is done."""
    if device == "cuda":
        torch.cuda.synchronize()


def autocast(precision: str, device: str) -> contextlib.AbstractContextManager:
    """The autocast context matching a Lightning `precision` value (as Lightning applies it)."""
    if precision not in PRECISIONS:
        raise UserError(f"precision: '{precision}' is not one of {', '.join(PRECISIONS)}")
    if precision == "32-true":
        return contextlib.nullcontext()
    if precision == "16-mixed" and device != "cuda":
        raise UserError("precision 16-mixed needs a GPU; use bf16-mixed on the CPU")
    dtype = torch.bfloat16 if precision == "bf16-mixed" else torch.float16
    return torch.autocast(device_type=device, dtype=dtype)


# --- memory -------------------------------------------------------------------------------------


def _status_kib(field: str) -> int | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(found.group(1)) if found else None


def rss_bytes() -> int | None:
    """Current resident set size of this process (Linux), else None."""
    kib = _status_kib("VmRSS")
    return kib * 1024 if kib is not None else None


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) to the current RSS; False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int | None:
    """Peak resident set size since the last `reset_peak_rss` (Linux VmHWM)."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    try:
        import resource
    except ImportError:
        return None
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextlib.contextmanager
def peak_memory(device: str) -> Iterator[dict[str, Any]]:
    """Measures the peak memory of the block: GPU `max_memory_allocated` on CUDA, else the
    process's peak RSS (reported together with the RSS before the block)."""
    record: dict[str, Any] = {}
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        yield record
        record["peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
        record["kind"] = "torch.cuda.max_memory_allocated"
        return
    record["rss_before_mib"] = (rss_bytes() or 0) / 2**20
    exact = reset_peak_rss()
    yield record
    peak = peak_rss_bytes()
    record["peak_mib"] = peak / 2**20 if peak is not None else None
    record["kind"] = "peak RSS (VmHWM)" if exact else "process peak RSS (not reset)"


# --- the real config ----------------------------------------------------------------------------


def compose(overrides: Sequence[str], output_dir: Path) -> DictConfig:
    """The real `conf/train.yaml` with Hydra `overrides`, writing into `output_dir`."""
    return compose_config(overrides, output_dir=output_dir)


def trainer_override(device: str) -> str:
    return "trainer=gpu" if device == "cuda" else "trainer=cpu"


def quiet_lightning() -> None:
    """Keep Lightning's setup chatter (GPU available, model summary tips) out of the tables."""
    import logging

    for name in ("lightning.pytorch", "lightning.fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)


def default_out(name: str) -> Path:
    return Path("outputs") / "bench" / f"{name}.json"


def add_run_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """The arguments every benchmark shares: threads, the JSON output and Hydra overrides for
    the model being measured."""
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    parser.add_argument("--out", type=Path, default=default_out(name))
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=b0 adapt=sum")


def run_cli(main: Callable[[], Any]) -> None:
    """Run a benchmark's `main()`; a user's mistake is one line, not a traceback."""
    exit_on_user_error(main)


def set_threads(threads: int | None) -> None:
    if threads:
        torch.set_num_threads(threads)
