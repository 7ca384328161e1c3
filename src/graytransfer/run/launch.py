"""DDP inside a Hydra multirun: each job re-launches itself, never the whole sweep.

Lightning's `ddp` strategy starts ranks 1..N-1 by re-running `sys.argv`. In a multirun that
command is the sweep (`train.py -m adapt=a,b seed=0,1`), so every child starts the sweep again.
`single_job_ddp(trainer)` wraps one job's fit/test: while it runs, `sys.argv` holds just this
job's overrides and Hydra's `run.dir` is the job's own folder, so Lightning's Hydra-aware launcher
starts children that run exactly this job, as a single run, writing into the same folder. When the
job ends it waits for the children, closes the process group and restores the DDP environment
variables the launcher set, so the next job of the sweep starts its own ranks on a fresh port.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from omegaconf import read_write

from graytransfer.config import hydra_runtime, in_multirun
from graytransfer.errors import UserError

#: set by Lightning's subprocess launcher in the main process; they must not leak into the next job
DDP_ENV = ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK", "LOCAL_RANK", "WORLD_SIZE")


def launches_by_rerunning_script(trainer: Any) -> bool:
    """True when the trainer's strategy starts its ranks by re-running the script (`ddp`)."""
    from lightning.pytorch.strategies.launchers.subprocess_script import _SubprocessScriptLauncher

    launcher = getattr(trainer.strategy, "launcher", None)
    return isinstance(launcher, _SubprocessScriptLauncher) and not (
        trainer.strategy.cluster_environment.creates_processes_externally
    )


def check_launchable(trainer: Any) -> None:
    """Refuse the one combination that cannot work: script re-launch inside a submitit worker
    (there `sys.argv` is submitit's own entry point, not train.py)."""
    if (
        in_multirun()
        and launches_by_rerunning_script(trainer)
        and os.environ.get("SUBMITIT_EXECUTOR")
    ):
        raise UserError(
            "trainer: inside a submitit job Lightning cannot start DDP ranks itself; with "
            "hydra/launcher=slurm SLURM starts one task per device (tasks_per_node = "
            "trainer.devices), with hydra/launcher=local use one device or the default launcher"
        )


@contextmanager
def single_job_ddp(trainer: Any) -> Iterator[None]:
    """Scope one multirun job's fit/test so DDP children re-run this job only (no-op otherwise)."""
    if not (in_multirun() and launches_by_rerunning_script(trainer)):
        yield
        return
    check_launchable(trainer)
    hydra_cfg = hydra_runtime()
    saved_argv = sys.argv[:]
    saved_env = {key: os.environ.get(key) for key in DDP_ENV}
    saved_run_dir = hydra_cfg.run.dir
    sys.argv = [sys.argv[0], *hydra_cfg.overrides.task]
    with read_write(hydra_cfg):
        hydra_cfg.run.dir = hydra_cfg.runtime.output_dir
    try:
        yield
    finally:
        sys.argv = saved_argv
        with read_write(hydra_cfg):
            hydra_cfg.run.dir = saved_run_dir
        _wait_for_children(trainer)
        _close_process_group()
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _wait_for_children(trainer: Any, timeout_s: float = 120.0) -> None:
    for proc in getattr(getattr(trainer.strategy, "launcher", None), "procs", []):
        try:
            proc.wait(timeout=timeout_s)
        except Exception:  # noqa: BLE001 - a stuck rank must not hang the sweep
            proc.kill()


def _close_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
