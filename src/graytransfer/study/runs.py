"""The runs under a folder, as the report and the study read them: every `metrics.json` (with its
folder, time and experiment config, `graytransfer.study.groups.run_config`), and the lists of
the runs left out: repeated seeds and runs that did not finish."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from graytransfer.errors import UserError
from graytransfer.run import RunFolder
from graytransfer.study.groups import run_config


def find_runs(root: Path) -> list[dict[str, Any]]:
    """Every readable `metrics.json` under `root` (W&B folders skipped), with its folder (`_dir`),
    its time (`_mtime`), its experiment config (`_config`) and where that was read (`_source`)."""
    if not root.is_dir():
        raise UserError(f"report: '{root}' is not a folder; give a multirun folder of runs")
    runs = []
    for folder in RunFolder.all_under(root):
        record = folder.record()
        if record is None:
            print(f"report: skipping unreadable {folder.record_file}", file=sys.stderr)
            continue
        record["_dir"] = str(folder.path.relative_to(root))
        record["_mtime"] = folder.record_file.stat().st_mtime
        record["_config"], record["_source"] = run_config(folder.path, record)
        runs.append(record)
    if not runs:
        raise UserError(f"report: no metrics.json under '{root}'; is it a run or multirun folder?")
    return runs


def repeats_section(repeats: list[tuple[dict[str, Any], dict[str, Any]]]) -> str:
    if not repeats:
        return ""
    lines = ["**Repeated seeds** (only the newest run of a seed is counted):", ""]
    for old, new in sorted(repeats, key=lambda pair: pair[0]["_dir"]):
        lines.append(
            f"- `{old['_dir']}` (seed {old.get('seed')}): left out for the newer `{new['_dir']}`"
        )
    return "\n".join(lines) + "\n"


def failures_section(bad: list[dict[str, Any]]) -> str:
    if not bad:
        return ""
    lines = ["**Runs that did not finish** (not averaged):", ""]
    for run in bad:
        error = str(run.get("error") or "").splitlines()[:1]
        lines.append(f"- `{run['_dir']}`: {run.get('status')} {error[0] if error else ''}".rstrip())
    return "\n".join(lines) + "\n"
