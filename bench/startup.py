"""How fast `train.py` answers before any training: `--help`, `--cfg job` and shell completion,
each a fresh `python` process, against `python -c "import hydra"` (what Hydra alone costs),
Hydra's own `--help` on the same tree, and `import torch, lightning, timm` (what every answer paid
before the heavy imports moved inside the task). Wall time, the median of `--reps` runs, the
commands interleaved so a burst of load on a shared machine hits all of them alike. Goal:
`--help` under 3 s on the 2-core CPU box.

    python -m bench.startup --reps 5 --out bench/results/cpu/startup.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import machine_info, median, report, run_cli

REPO = Path(__file__).resolve().parents[1]
TRAIN = str(REPO / "train.py")
#: the `--help` goal on this project's reference machine (2 CPU cores), seconds
GOAL_S = 3.0
#: runs a script as `python SCRIPT ARGS` would and prints which heavy libraries it imported
REPORT_HEAVY = (
    "import atexit, runpy, sys\n"
    "atexit.register(lambda: print('heavy:', ','.join(m for m in ('torch', 'lightning', 'timm')"
    " if m in sys.modules), file=sys.stderr))\n"
    "sys.argv = sys.argv[1:]\n"
    "runpy.run_path(sys.argv[0], run_name='__main__')\n"
)


#: Hydra's own `--help` on conf/train.yaml, without graytransfer's entry point
HYDRA_HELP = (
    "import hydra\n"
    f"hydra.main(version_base='1.3', config_path={str(REPO / 'conf')!r}, config_name='train')"
    "(lambda cfg: None)()\n"
)


def commands(with_heavy: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (argv, extra environment) of every measured command."""
    python = sys.executable
    found = {
        "import hydra": ([python, "-c", "import hydra"], {}),
        "Hydra's own --help": ([python, "-c", HYDRA_HELP, "--help"], {}),
        "train.py --help": ([python, TRAIN, "--help"], {}),
        "train.py --cfg job": ([python, TRAIN, "--cfg", "job"], {}),
        "train.py completion (TAB)": (
            [python, TRAIN, "-sc", "query=bash"],
            {"COMP_LINE": "python train.py ada"},
        ),
    }
    if with_heavy:
        found["import torch, lightning, timm"] = (
            [python, "-c", "import torch, lightning, timm"],
            {},
        )
    return found


def wall_time(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Seconds from start to exit of one fresh process (its output discarded)."""
    started = time.perf_counter()
    done = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr[-2000:]}")
    return elapsed


def heavy_imports(argv: list[str], env: dict[str, str], cwd: Path) -> str | None:
    """The heavy libraries a `train.py` command imports ('' for none); None for other commands."""
    if TRAIN not in argv:
        return None
    script = argv.index(TRAIN)
    wrapped = [argv[0], "-c", REPORT_HEAVY, *argv[script:]]
    done = subprocess.run(
        wrapped, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600
    )
    lines = [line for line in done.stderr.splitlines() if line.startswith("heavy:")]
    return lines[-1].removeprefix("heavy:").strip() if lines else "?"


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="runs of each command (median)")
    parser.add_argument("--no-heavy", action="store_true", help="skip importing torch etc.")
    parser.add_argument("--out", type=Path, default=REPO / "bench/results/cpu/startup.json")
    args = parser.parse_args(argv)
    info = machine_info("cpu")
    measured = commands(with_heavy=not args.no_heavy)
    cwd = Path(os.environ.get("TMPDIR", "/tmp"))  # Hydra's --help writes nothing, but be safe
    times: dict[str, list[float]] = {name: [] for name in measured}
    for _ in range(args.reps):
        for name, (command, env) in measured.items():  # interleaved
            times[name].append(wall_time(command, env, cwd))
    rows = []
    for name, (command, env) in measured.items():
        rows.append(
            {
                "command": name,
                "median_s": median(times[name]),
                "min_s": min(times[name]),
                "max_s": max(times[name]),
                "runs": len(times[name]),
                "heavy_imported": heavy_imports(command, env, cwd),
            }
        )
    help_s = median(times["train.py --help"])
    hydra_s = median(times["import hydra"])
    summary = {
        "help_s": help_s,
        "import_hydra_s": hydra_s,
        "help_minus_hydra_s": help_s - hydra_s,
        "goal_s": GOAL_S,
        "goal_met": help_s < GOAL_S,
    }
    notes = [
        "wall time of fresh processes, median of the runs; heavy_imported: torch/lightning/timm "
        "modules present when the command exited ('' = none)",
        "Hydra's own --help composes the config again for every config group it lists; "
        "train.py --help prints the same text composing once (graytransfer.cli.fast_help)",
    ]
    columns = ["command", "median_s", "min_s", "max_s", "runs", "heavy_imported"]
    settings = {"reps": args.reps, "with_heavy": not args.no_heavy}
    return report("startup", info, settings, rows, columns, args.out, summary, notes)


if __name__ == "__main__":
    run_cli(main)
