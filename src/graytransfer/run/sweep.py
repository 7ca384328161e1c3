"""A sweep's jobs: their W&B group and name, and the list of jobs that failed.

`sweep_identity` names a multirun job in W&B (its sweep's group, its number and overrides);
`run_name` names a single run. A sweep with a failed job exits non-zero: each failed job adds a
line (its number, overrides and one-line reason) to `<sweep dir>/failed_jobs.jsonl`
(`graytransfer.run.job` records the failure), and `SweepFailures` (a Hydra callback,
`hydra.callbacks` in conf/train.yaml) prints the summary once every job has run and exits with
status 1 (`sweep.fail_exit=false`: the summary only, exit 0). The file is written by the job's
own process, so jobs that another launcher runs elsewhere (submitit) are counted too. A
diverged job (NaN) is a result, not a failure: it does not change the exit status.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from graytransfer.config import hydra_choices, hydra_runtime, in_multirun


def sweep_identity(task_name: str = "train") -> dict[str, str] | None:
    """W&B `group` (one per sweep: the task and the sweep folder's name) and `name` (the job number
    and its overrides, floats rounded by `short_override`) for a multirun job; None for a single
    run. Both are at most 128 characters (W&B's limit)."""
    if not in_multirun():
        return None
    hydra_cfg = hydra_runtime()
    group = f"{task_name}-{Path(str(hydra_cfg.sweep.dir)).name}"
    overrides = " ".join(short_override(str(o)) for o in hydra_cfg.overrides.task)
    name = f"{hydra_cfg.job.num}: {overrides}" if overrides else str(hydra_cfg.job.num)
    return {"group": group[:MAX_NAME], "name": name[:MAX_NAME]}


#: W&B's longest run name and group
MAX_NAME = 128
#: a float literal (the form Optuna's samplers write: 0.0059812219011525555, 1.2e-05)
_FLOAT = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][-+]?\d+)?")


def short_override(override: str, digits: int = 3) -> str:
    """`key=value` with a float value (or a list of floats) rounded to `digits` significant
    digits: `optim.lr=0.0059812219011525555` -> `optim.lr=0.00598`; other values unchanged."""
    key, sep, value = override.partition("=")
    if not sep:
        return override
    items = value[1:-1].split(",") if value.startswith("[") and value.endswith("]") else [value]
    if not all(_FLOAT.fullmatch(item.strip()) or item.strip().isdigit() for item in items):
        return override
    rounded = [
        f"{float(item):.{digits}g}" if _FLOAT.fullmatch(item.strip()) else item.strip()
        for item in items
    ]
    short = f"[{','.join(rounded)}]" if value.startswith("[") else rounded[0]
    return f"{key}={short}"


def run_name(cfg: DictConfig) -> str | None:
    """A single run's readable W&B name, `<model>-<adapt>-<data>-s<seed>`, e.g.
    `tf_efficientnet_lite0-repeat-digits-s0`: the timm model name, the adapt strategy, the data
    (the folder's name for `data.root`, the CSV's name for `data.csv`, the MedMNIST subset, else
    the data config's name); `-s<seed>` only for a seeded run. None for a config without a model
    and an adapt strategy (e.g. the evaluate tool's)."""
    model, adapt = cfg.get("model"), cfg.get("adapt")
    if not model or not adapt or not model.get("name"):
        return None
    choices = hydra_choices()
    parts = [
        str(model.name),
        choices.get("adapt") or _target_name(adapt),
        _data_label(cfg.get("data"), choices.get("data")),
    ]
    if cfg.get("seed") is not None:
        parts.append(f"s{cfg.seed}")
    name = "-".join(part for part in parts if part)
    return re.sub(r"[^\w.+=-]", "_", name)[:MAX_NAME]


def _target_name(node: Any) -> str | None:
    """`graytransfer.data.DigitsDataModule` -> `digits`, `graytransfer.adapt.Repeat` -> `repeat`."""
    target = str((node or {}).get("_target_") or "")
    return target.rsplit(".", 1)[-1].removesuffix("DataModule").lower() or None


def _data_label(data: Any, choice: str | None) -> str | None:
    """The data part of a run's name: the folder's or CSV's name, the MedMNIST subset, else the
    data choice."""
    if not data:
        return None
    for key, part in (("root", "name"), ("csv", "stem"), ("subset", None)):
        if key in data and not OmegaConf.is_missing(data, key) and data.get(key):
            value = str(data.get(key))
            return getattr(Path(value.rstrip("/")), part) if part else value
    return choice or _target_name(data)


#: the file in a sweep's folder that lists its failed jobs, one JSON object a line
FAILED_JOBS = "failed_jobs.jsonl"


@dataclass(frozen=True)
class FailedJob:
    """A sweep job that raised: its number, its overrides and the error's first line."""

    num: int
    overrides: list[str]
    reason: str
    output_dir: str


def failure_reason(error: BaseException) -> str:
    """One line saying why a job failed: a user's mistake as the one line the command line
    prints (also when Hydra's `instantiate` wrapped it), else `Type: first line`."""
    from graytransfer.cli import one_line

    message = one_line(error)
    if message is not None:
        return message
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def add_failed_job(error: str) -> None:
    """Append the running multirun job (number, overrides, `error`'s first line) to its sweep's
    `failed_jobs.jsonl`; nothing outside a multirun."""
    hydra_cfg = hydra_runtime()
    if hydra_cfg is None or not in_multirun():
        return
    job = FailedJob(
        num=int(hydra_cfg.job.num),
        overrides=[str(o) for o in hydra_cfg.overrides.task],
        reason=(error.strip().splitlines() or [""])[0],
        output_dir=str(hydra_cfg.runtime.output_dir),
    )
    path = Path(str(hydra_cfg.sweep.dir)) / FAILED_JOBS
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:  # one short line per job: appends of jobs running at once
        handle.write(json.dumps(asdict(job)) + "\n")  # do not interleave


def read_failed_jobs(sweep_dir: Path) -> list[FailedJob]:
    """The failed jobs listed in `sweep_dir`'s `failed_jobs.jsonl`, by job number (none when
    the file is missing; a line that is not a job record is skipped)."""
    try:
        lines = (Path(sweep_dir) / FAILED_JOBS).read_text().splitlines()
    except OSError:
        return []
    jobs = []
    for line in lines:
        try:
            jobs.append(FailedJob(**json.loads(line)))
        except (json.JSONDecodeError, TypeError):
            continue
    return sorted(jobs, key=lambda job: job.num)


def swept_overrides(job: Sequence[str], command_line: Sequence[str]) -> list[str]:
    """The overrides of `job` that tell it from the other jobs: those whose key the command line
    (`command_line`, as typed: `seed=0,1 model.pretrained=false`) does not fix to one value."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_overrides(list(command_line))
    except Exception:  # noqa: BLE001 - an unparsable line only costs the shortening
        return list(job)
    fixed = {o.key_or_group for o in parsed if not o.is_sweep_override()}
    return [o for o in job if o.partition("=")[0].lstrip("~+") not in fixed]


def failure_summary(
    jobs: Sequence[FailedJob], fail_exit: bool, command_line: Sequence[str] = ()
) -> str:
    """What a sweep with failed `jobs` prints at its end: a headline, then one line per job
    (`job N (overrides): reason [its folder]`, the overrides the `command_line` gives every job
    left out) and what `sweep.fail_exit` does."""
    outcome = (
        "exit status 1 (sweep.fail_exit=false exits 0)"
        if fail_exit
        else "exit status 0 (sweep.fail_exit=false)"
    )
    lines = [f"graytransfer: {len(jobs)} sweep job(s) failed, {outcome}:"]
    for job in jobs:
        overrides = " ".join(swept_overrides(job.overrides, command_line)) or "no overrides"
        lines.append(f"  job {job.num} ({overrides}): {job.reason} [{job.output_dir}]")
    return "\n".join(lines)


def fail_exit(config: DictConfig) -> bool:
    """`sweep.fail_exit` (default true): a sweep with a failed job exits with status 1."""
    return bool((config.get("sweep") or {}).get("fail_exit", True))


class SweepFailures(Callback):
    """Hydra callback of a multirun: a clean failed-job list at the start (one left by an earlier
    run of the same sweep folder is removed), the summary and exit status 1 at the end when a
    job failed (`failure_summary`, `sweep.fail_exit`)."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        (Path(str(config.hydra.sweep.dir)) / FAILED_JOBS).unlink(missing_ok=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        jobs = read_failed_jobs(Path(str(config.hydra.sweep.dir)))
        if not jobs:
            return
        command_line = [str(o) for o in config.hydra.overrides.task]
        print(failure_summary(jobs, fail_exit(config), command_line), file=sys.stderr)
        if fail_exit(config):
            raise SystemExit(1)  # Hydra's callbacks swallow exceptions, not an exit
