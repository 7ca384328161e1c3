"""Being job N of a `python train.py -m` sweep inside a test process: Hydra's runtime config set
as `@hydra.main` sets it in a multirun, so `in_multirun()`, `add_failed_job()` and `run_job()` act
as they do in a real sweep, without starting one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import open_dict

from graytransfer.config import compose


@contextmanager
def multirun_job(sweep_dir: Path, num: int, overrides: list[str]) -> Iterator[Path]:
    """Inside the block this process is job `num` (with `overrides`) of a multirun writing into
    `sweep_dir`; yields the job's folder `sweep_dir/num`. Hydra's runtime config is cleared
    after."""
    output_dir = sweep_dir / str(num)
    hydra_cfg = compose(overrides, with_hydra=True)
    with open_dict(hydra_cfg):
        hydra_cfg.hydra.mode = RunMode.MULTIRUN
        hydra_cfg.hydra.job.num = num
        hydra_cfg.hydra.sweep.dir = str(sweep_dir)
        hydra_cfg.hydra.runtime.output_dir = str(output_dir)
        hydra_cfg.hydra.overrides.task = list(overrides)
    HydraConfig.instance().set_config(hydra_cfg)
    try:
        yield output_dir
    finally:
        HydraConfig.instance().cfg = None
