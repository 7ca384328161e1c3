"""Where a number came from: the machine record a run's `metrics.json` and every benchmark carry
(CPU model and count, torch threads, load average, GPU, library versions, UTC time)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The `model name` line of /proc/cpuinfo (the processor name elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return found.group(1).strip() if found else "unknown"


def load_average() -> list[float | None]:
    """The 1, 5 and 15-minute load averages, rounded to 0.01 (None where the OS has none)."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    return [round(v, 2) if v is not None else None for v in load]


def machine_record(device: str) -> dict[str, Any]:
    """The machine as a JSON-safe dict: `utc`, `nproc`, `cpu_model`, `torch_threads`,
    `load_average_1_5_15` (now), `device` ("cpu", "cuda", ...), `gpu` (its name on cuda, else
    None), and the `python`, `torch`, `lightning` and `timm` versions."""
    import lightning
    import timm
    import torch

    on_cuda = device.startswith("cuda") and torch.cuda.is_available()
    return {
        "utc": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "torch_threads": torch.get_num_threads(),
        "load_average_1_5_15": load_average(),
        "device": device,
        "gpu": torch.cuda.get_device_name(0) if on_cuda else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "timm": timm.__version__,
    }
