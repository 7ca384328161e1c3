"""Where the study's numbers came from: the command that reproduces a group of runs, derived from
the runs' own `.hydra/overrides.yaml` (what was typed after `train.py`, per job), the machine and
load each run recorded in its `metrics.json` (`machine`, written by `graytransfer.run.machine`),
and the run folders that have no `metrics.json` yet (still running, or killed).
"""

from __future__ import annotations

import shlex
from collections import Counter
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from graytransfer.run import RunFolder
from graytransfer.study.groups import Group

NOT_RECORDED = "not recorded"


def _seed_order(seed: str) -> tuple[int, Any]:
    try:
        return 0, int(seed)
    except ValueError:
        return 1, seed


def run_overrides(run_dir: Path) -> list[str] | None:
    """The overrides of one job (`.hydra/overrides.yaml`), None when the run has none saved."""
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return None
    return [str(item) for item in OmegaConf.load(path)]


def group_commands(group: Group, root: Path) -> list[str]:
    """The commands that reproduce `group`: its runs' overrides with their seeds joined into
    one sweep (`python train.py -m experiment=study adapt=colormap seed=0,1,2,3,4`), one command
    per distinct set of other overrides, in the order they were typed; a last line counts the
    runs without saved overrides."""
    sweeps: dict[tuple[str, ...], list[str]] = {}
    missing = 0
    for run in group.runs:
        overrides = run_overrides(root / run["_dir"])
        if overrides is None:
            missing += 1
            continue
        seeds = [o.split("=", 1)[1] for o in overrides if o.split("=", 1)[0] == "seed"]
        rest = tuple(o if o.split("=", 1)[0] != "seed" else "seed=" for o in overrides)
        sweeps.setdefault(rest, []).extend(seeds)
    commands = []
    for rest, seeds in sweeps.items():
        joined = ",".join(sorted(set(seeds), key=_seed_order))
        items = [f"seed={joined}" if o == "seed=" else o for o in rest]
        commands.append(" ".join(["python train.py -m", *(shlex.quote(o) for o in items)]))
    if missing:
        commands.append(f"({missing} run(s) without .hydra/overrides.yaml: command {NOT_RECORDED})")
    return commands


def describe_machine(machine: dict[str, Any]) -> str:
    """`CPU, N cores, device, torch V, T threads` of one machine record (either naming)."""
    cpu = machine.get("cpu_model") or machine.get("cpu") or "unknown CPU"
    cores = machine.get("nproc") or machine.get("cores")
    device = machine.get("device") or "?"
    if machine.get("gpu"):
        device = f"{device} ({machine['gpu']})"
    threads = machine.get("torch_threads") or machine.get("threads")
    parts = [str(cpu), f"{cores} cores" if cores else None, f"device {device}"]
    parts += [f"torch {machine['torch']}" if machine.get("torch") else None]
    parts += [f"{threads} torch threads" if threads else None]
    return ", ".join(p for p in parts if p)


def _one_minute(load: Any) -> float | None:
    if isinstance(load, (list, tuple)):
        load = load[0] if load else None
    return float(load) if isinstance(load, (int, float)) else None


def _span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.2f}" if low == high else f"{low:.2f}-{high:.2f}"


def machine_line(runs: list[dict[str, Any]]) -> str:
    """The machines the `runs` recorded (how many runs each) and the range of the 1-minute load
    average at the start and at the end of training; `not recorded` when none has a record."""
    records = [run.get("machine") for run in runs]
    recorded = [m for m in records if isinstance(m, dict)]
    if not recorded:
        return NOT_RECORDED
    hosts = Counter(describe_machine(m) for m in recorded)
    text = "; ".join(f"{host} ({n} run{'s' if n > 1 else ''})" for host, n in hosts.items())
    spans = []
    for when, keys in (
        ("start", ("load_at_start", "load_start")),
        ("end", ("load_average_1_5_15", "load_end")),
    ):
        loads = [_one_minute(next((m[k] for k in keys if k in m), None)) for m in recorded]
        found = [v for v in loads if v is not None]
        if found:
            spans.append(f"{_span(found)} at the {when} of training")
    if spans:
        text += "; 1-min load average " + ", ".join(spans)
    if len(recorded) < len(records):
        text += f"; {len(records) - len(recorded)} run(s) {NOT_RECORDED}"
    return text


def unfinished_runs(root: Path) -> list[str]:
    """Run folders under `root` (a `.hydra/overrides.yaml`) without a `metrics.json`: still
    running, or stopped before the end; relative to `root`, sorted."""
    saved = root.rglob(f"{RunFolder.HYDRA}/overrides.yaml")
    folders = (RunFolder(path.parent.parent) for path in saved)
    return sorted(
        str(folder.path.relative_to(root)) for folder in folders if not folder.record_file.is_file()
    )
