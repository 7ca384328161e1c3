"""One job of `train.py`, single run or sweep: its status, and a finite objective for the
sweeper.

A sweep must survive its jobs. A job that raises is recorded (`metrics.json` with
`status: failed`, the error and its traceback) and the sweep goes on; a job whose loss or
monitored metric is NaN/inf, or that stopped with `LossNotFinite`, is recorded as `diverged`.
Either way the sweeper gets a finite *worst* value instead of NaN, which Optuna would otherwise
turn into an aborted study. A failed job is also listed for the sweep's exit status
(`graytransfer.run.sweep`).
"""

from __future__ import annotations

import math
import sys
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from omegaconf import DictConfig

from graytransfer.config import hydra_choices, in_multirun
from graytransfer.errors import LossNotFinite, UserError
from graytransfer.run.folder import RunFolder, RunState
from graytransfer.run.lock import RunFolderInUse
from graytransfer.run.sweep import add_failed_job, failure_reason

#: the objective a failed or diverged job reports when `sweep.failed_objective` is null
WORST = {"max": -1.0e9, "min": 1.0e9}


def worst_objective(cfg: DictConfig) -> float:
    """The finite value a failed or diverged job returns to the sweeper."""
    configured = (cfg.get("sweep") or {}).get("failed_objective")
    if configured is not None:
        return float(configured)
    return WORST[str(cfg.monitor.mode)]


def run_status(metrics: Mapping[str, Any], monitor_best: Any) -> str:
    """`ok`, or `diverged` when any logged loss or the monitored best is NaN/inf (or missing)."""
    losses = [v for k, v in metrics.items() if "loss" in k.rsplit("/", 1)[-1]]
    for value in [*losses, monitor_best]:
        try:
            if value is None or not math.isfinite(float(value)):
                return "diverged"
        except (TypeError, ValueError):
            return "diverged"
    return "ok"


def objective(record: Mapping[str, Any], cfg: DictConfig) -> float:
    """The monitored metric's best value, or the worst value for a run that did not finish ok."""
    best = (record.get("monitor") or {}).get("best")
    if record.get("status", "ok") != "ok" or best is None or not math.isfinite(float(best)):
        return worst_objective(cfg)
    return float(best)


def failure_record(cfg: DictConfig, error: BaseException) -> dict[str, Any]:
    """What `metrics.json` says about a job that raised (`diverged` for `LossNotFinite`)."""
    return {
        "status": "diverged" if isinstance(error, LossNotFinite) else "failed",
        "error": f"{type(error).__name__}: {error}",
        "traceback": "".join(traceback.format_exception(error)),
        "seed": cfg.get("seed"),
        "choices": hydra_choices(),
        "monitor": {"metric": cfg.monitor.metric, "mode": cfg.monitor.mode, "best": None},
        "output_dir": str(cfg.paths.output_dir),
    }


def run_job(cfg: DictConfig, train: Callable[[DictConfig], Mapping[str, Any]]) -> float:
    """Run `train(cfg)` and return the sweeper's objective.

    In a multirun with `sweep.skip_finished`, a job whose folder already holds a finished run
    (`RunFolder.state`) is not trained again: that record's objective is returned, so a sweep
    interrupted or extended later re-runs only what is missing. In a multirun with
    `sweep.continue_on_failure` (the default), an exception is recorded in the job's
    `metrics.json` and reported on stderr, and the worst objective is returned so the sweep goes
    on. In a single run the exception propagates (train.py prints it)."""
    sweep = cfg.get("sweep") or {}
    folder = RunFolder(cfg.paths.output_dir)
    if in_multirun() and sweep.get("skip_finished", False) and folder.is_finished:
        record = folder.record()
        if record is None:
            raise UserError(
                f"{folder.record_file} is not a readable run record, so sweep.skip_finished "
                "cannot take its result; move the folder away to run this job again"
            )
        print(
            f"graytransfer: {folder.path} already holds a finished run; skipped "
            "(sweep.skip_finished=true), its metrics.json answers the sweeper",
            file=sys.stderr,
        )
        return objective(record, cfg)
    if not in_multirun() or not sweep.get("continue_on_failure", True):
        return objective(train(cfg), cfg)
    try:
        return objective(train(cfg), cfg)
    except RunFolderInUse:  # the folder is another process' own: write nothing into it
        raise
    except Exception as error:  # noqa: BLE001 - any job failure is recorded, the sweep goes on
        record = failure_record(cfg, error)
        rank_zero = _is_rank_zero()
        if rank_zero:
            folder.write_failure(record)  # never over a finished run's record
        if record["status"] == RunState.FAILED.value and rank_zero:
            add_failed_job(failure_reason(error))
        print(
            f"graytransfer: job failed ({record['error'].splitlines()[0]}); recorded in "
            f"{folder.record_file}, the sweep goes on",
            file=sys.stderr,
        )
        return worst_objective(cfg)


def _is_rank_zero() -> bool:
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0
