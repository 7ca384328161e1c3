"""Running an experiment: what `python train.py` does, start to finish.

The public surface is this package's face (`from graytransfer.run import train, RunFolder`);
names load on first use, so importing it costs nothing (no torch before the command line is
read). Modules, top down:

- `pipeline` — `train(cfg)`: plan (new or resumed) -> build -> fit and test -> the record;
- `build` (the data, classifier, loggers, callbacks and trainer of a run: `RunParts`), `fit`
  (fit and test, timed, with readable errors), `evaluation` (after the test: `predictions.csv`
  and the metrics' confidence intervals, from `graytransfer.evaluation`), `record`
  (`RunRecord`, `metrics.json` and the end-of-run summary);
- `resume` (which checkpoint and folder a run continues in), `start` (Hydra's files under the
  lock, no folder left by a failed start), `folder` (`RunFolder`: every run-file name, the
  folder's state by one rule, atomic writes, the lock; `lock` holds the file lock under it);
- `job` (one job of train.py: status, failure record, the sweeper's objective), `sweep` (a
  sweep's W&B names and its failed-job summary), `launch` (DDP inside a Hydra multirun);
- `guards` (checks before training), `loggers` (W&B online/offline, MLflow's local store, the
  run's loggers), `extras` (the config tree at the start, upstream noise silenced, required
  tags), `machine` (the machine a run ran on), `optuna_sampler`.

May import everything below it (`model`, `adapt`, `data`, `callbacks`, `evaluation`, base
modules); never `tools` or `study`.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

#: public name -> the module of this package that defines it (or a full module path)
_PUBLIC = {
    "train": "pipeline",
    "run_record": "pipeline",
    "RunParts": "build",
    "build_run": "build",
    "build_data": "graytransfer.model.build",
    "build_data_and_model": "graytransfer.model.build",
    "build_callbacks": "build",
    "FitOutcome": "fit",
    "fit_and_test": "fit",
    "RunRecord": "record",
    "publish_record": "record",
    "print_summary": "record",
    "summary_table": "record",
    "to_float": "record",
    "ResumePlan": "resume",
    "plan_resume": "resume",
    "find_unfinished": "resume",
    "experiment_key": "resume",
    "RunFolder": "folder",
    "RunState": "folder",
    "RunFolderInUse": "lock",
    "removed_if_start_fails": "start",
    "leave_unused": "start",
    "run_job": "job",
    "run_status": "job",
    "objective": "job",
    "worst_objective": "job",
    "failure_record": "job",
    "run_name": "sweep",
    "short_override": "sweep",
    "sweep_identity": "sweep",
    "FailedJob": "sweep",
    "SweepFailures": "sweep",
    "read_failed_jobs": "sweep",
    "failure_summary": "sweep",
    "swept_overrides": "sweep",
    "FAILED_JOBS": "sweep",
    "check_seed": "guards",
    "build_loggers": "loggers",
    "logger_configs": "loggers",
    "finish_wandb": "loggers",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'graytransfer.run' has no attribute '{name}'")
    module = _PUBLIC[name]
    value = getattr(import_module(module if "." in module else f"graytransfer.run.{module}"), name)
    globals()[name] = value
    return value
