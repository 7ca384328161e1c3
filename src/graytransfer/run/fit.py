"""Fit and test a built run (`graytransfer.run.build.RunParts`), timing both, with readable
errors: SIGTERM exits 143 after `last.ckpt` is saved, an unreadable image names its file."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig
from PIL import UnidentifiedImageError

from graytransfer.errors import UserError
from graytransfer.run.build import RunParts
from graytransfer.run.calibrate import calibrate, check_calibration
from graytransfer.run.launch import single_job_ddp
from graytransfer.run.machine import load_average
from graytransfer.run.record import to_float
from graytransfer.run.start import Start


@dataclass(frozen=True)
class FitOutcome:
    """What fitting and testing left: the metrics after fit (`fit_metrics`) and after test
    (`metrics`, fit's updated by test's), the best checkpoint (the one tested), the seconds of
    each stage and the machine's load when fit began."""

    fit_metrics: dict[str, float | None]
    metrics: dict[str, float | None]
    best_checkpoint: str | None
    fit_s: float
    test_s: float
    load_at_start: Any
    #: `calibration=temperature`'s record (graytransfer.run.calibrate); None without one
    calibration: dict[str, Any] | None = None


def fit_and_test(cfg: DictConfig, parts: RunParts, ckpt_path: Any, start: Start) -> FitOutcome:
    """`Trainer.fit` (from `ckpt_path` when resuming), then `Trainer.test` of the best checkpoint
    when `test` is on and the data has a test split. `start.begin_training()` marks the moment
    from which a failure keeps the run folder."""
    trainer, model, data = parts.trainer, parts.model, parts.data
    calibrator = instantiate(cfg.calibration) if cfg.get("calibration") else None
    check_calibration(calibrator, data)  # a val split to fit on, before any training
    with single_job_ddp(trainer):  # DDP in a multirun re-launches this job only
        fit_started, load_at_start = time.perf_counter(), load_average()
        start.begin_training()
        with readable_errors():
            trainer.fit(model, datamodule=data, ckpt_path=ckpt_path)
        fit_s = time.perf_counter() - fit_started
        fit_metrics = {k: to_float(v) for k, v in trainer.callback_metrics.items()}
        best = best_checkpoint(trainer)
        calibrated = calibrate(calibrator, trainer, model, data, best) if calibrator else None
        test_started = time.perf_counter()
        if cfg.get("test", True) and data.test_set is not None and len(data.test_set) > 0:
            trainer.test(model, datamodule=data, ckpt_path=best or None, verbose=False)
        test_s = time.perf_counter() - test_started
    metrics = {**fit_metrics, **{k: to_float(v) for k, v in trainer.callback_metrics.items()}}
    return FitOutcome(fit_metrics, metrics, best, fit_s, test_s, load_at_start, calibrated)


@contextmanager
def readable_errors() -> Iterator[None]:
    """SIGTERM ends the process with status 143 (after last.ckpt is saved); an unreadable image
    becomes a UserError naming the file."""
    try:
        yield
    except SIGTERMException:
        raise SystemExit(143) from None
    except UnidentifiedImageError as err:
        found = re.search(r"cannot identify image file '([^']+)'", str(err))
        name = found.group(1) if found else str(err).strip().splitlines()[-1]
        raise UserError(
            f"image '{name}' cannot be read (not an image or corrupt); remove or replace it"
        ) from None


def best_checkpoint(trainer: L.Trainer) -> str | None:
    """The best checkpoint's path, when a checkpoint callback wrote one."""
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None
