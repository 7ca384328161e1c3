"""train(cfg): compose the parts named by the Hydra config, fit, test, and record the run."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import (
    LearningRateMonitor,
    ModelCheckpoint,
    ModelSummary,
    ProgressBar,
)
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_only
from lightning.pytorch.utilities.exceptions import SIGTERMException
from omegaconf import DictConfig
from PIL import UnidentifiedImageError

from graytransfer.adapt.cost import input_cost
from graytransfer.config import conf_dir
from graytransfer.console import route_library_logs
from graytransfer.data.base import GrayscaleDataModule
from graytransfer.data.required import check_required
from graytransfer.errors import UserError
from graytransfer.model.backbone import Backbone
from graytransfer.model.build import (
    build_classifier,
    build_task,
    input_values_of,
    resolve_image_size,
)
from graytransfer.model.checkpoint_file import check_compatible, read_checkpoint
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.run.folder import (
    Start,
    leave_unused,
    removed_if_start_fails,
    save_hydra_config,
)
from graytransfer.run.guards import (
    check_accelerator,
    check_input_size,
    check_not_finished,
    check_optimizer,
    check_trains,
)
from graytransfer.run.launch import single_job_ddp
from graytransfer.run.lock import run_lock
from graytransfer.run.loggers import build_loggers, finish_wandb, wandb_run_id_of
from graytransfer.run.machine import load_average, machine_record
from graytransfer.run.record import publish_record, to_float
from graytransfer.run.resume import RUN_FILE, ResumePlan, plan_resume, write_run_file
from graytransfer.run.sweep import run_status


def hydra_choices() -> dict[str, str]:
    """The config-group choices of the running Hydra job (`model: lite0`, ...), if any."""
    try:
        from hydra.core.hydra_config import HydraConfig

        choices = HydraConfig.get().runtime.choices
    except ValueError:  # not running under @hydra.main (e.g. composed in a test)
        return {}
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra/") and v is not None}


def check_seed(seed: Any) -> int | None:
    """`seed: null` means unseeded; any int, 0 included, seeds everything."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"seed: {seed!r} is not an integer (or null for no seeding)")
    return seed


def build_data(cfg: DictConfig, image_size: tuple[int, int]) -> GrayscaleDataModule:
    """Instantiate the data module at `image_size` (see `resolve_image_size`) and set it up."""
    seed = cfg.seed if cfg.seed is not None else 0
    data = instantiate(cfg.data, image_size=list(image_size), seed=seed)
    data.prepare_data()
    data.setup("fit")
    build_task(cfg).check_data(data.class_names, data.train_set.labels, f"data={_data_name(cfg)}")
    if data.num_classes < 2:
        raise UserError(
            f"data: found {data.num_classes} class(es) {data.class_names}; a classifier needs at "
            "least 2: give every class its own sub-folder (or label) with images"
        )
    return data


def _data_name(cfg: DictConfig) -> str:
    """`csv`, `folder`, ...: the data choice (or the conf/data file naming its target), for
    messages."""
    target = str(cfg.data.get("_target_", "?"))
    files = sorted((conf_dir() / "data").glob("*.yaml"))
    named = (p.stem for p in files if target in p.read_text())
    return hydra_choices().get("data") or next(named, target.rsplit(".", 1)[-1])


def build_data_and_model(
    cfg: DictConfig, backbone: Backbone
) -> tuple[GrayscaleDataModule, GrayscaleClassifier]:
    """The data module (set up) and the classifier of `cfg`, at its resolved image size, for
    the data's classes and loss class weights."""
    image_size = resolve_image_size(cfg, backbone)
    data = build_data(cfg, image_size)
    model = build_classifier(
        cfg,
        backbone,
        class_names=data.class_names,
        image_size=image_size,
        class_weights=data.loss_class_weights(),
        input_values=input_values_of(data),
    )
    return data, model


def build_callbacks(cfg: DictConfig, with_logger: bool) -> list[L.Callback]:
    """The configured callbacks; those that need a logger are dropped when there is none, and
    progress bars when `trainer.enable_progress_bar` is false, the model summary when
    `trainer.enable_model_summary` is false."""
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
    if not with_logger:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    if not (cfg.get("trainer") or {}).get("enable_progress_bar", True):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    if (cfg.get("trainer") or {}).get("enable_model_summary") is False:
        callbacks = [c for c in callbacks if not isinstance(c, ModelSummary)]
    return callbacks


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment and return its record (also written to `metrics.json`).

    Before any work: the seed, required data keys (`data.root`...), the accelerator, a trainer
    that trains no step and the optimizer/schedule values are checked. The run folder is then
    locked for this process (`graytransfer.run.lock`) until the run ends; a second process asking
    for it stops with a UserError. Hydra's `.hydra/` files are written under the lock; a start
    that fails before training leaves no run folder (`graytransfer.run.folder`)."""
    started = time.perf_counter()
    route_library_logs()  # Lightning's messages and warnings into train.log too
    hydra_dir = Path(cfg.paths.output_dir)
    with removed_if_start_fails(hydra_dir) as start:
        seed = check_seed(cfg.get("seed"))
        check_required(cfg.data)
        check_accelerator(cfg)
        check_trains(cfg)
        check_optimizer(cfg)
        if seed is not None:
            L.seed_everything(seed, workers=True, verbose=False)
        plan = plan_resume(cfg)  # a resumed run continues in its own folder
        if str(plan.output_dir) != str(cfg.paths.output_dir):
            cfg.paths.output_dir = str(plan.output_dir)
        with run_lock(plan.output_dir):
            check_not_finished(plan.output_dir)  # again, now that no other process can finish it
            leave_unused(hydra_dir, plan.output_dir)  # a resume goes on in its own folder
            save_hydra_config(cfg, plan.output_dir)
            return _train_locked(cfg, plan, started, start)


def _train_locked(
    cfg: DictConfig, plan: ResumePlan, started: float, start: Start
) -> dict[str, Any]:
    """`train` once the run folder is this process' own."""
    output_dir = plan.output_dir
    backbone: Backbone = instantiate(cfg.model)
    backbone.check_weights_available()  # before the data is read; build() does not ask again
    data, model = build_data_and_model(cfg, backbone)
    data.save_split(output_dir)  # classes.json, split.csv (and bad_files.txt) in the run folder
    check_input_size(model, data.image_size, str(cfg.model.name))
    if plan.resuming:
        checkpoint = read_checkpoint(plan.ckpt_path)
        check_compatible(
            checkpoint,
            plan.ckpt_path,
            str(cfg.model.name),
            model.strategy_name,
            data.class_names,
            task=model.task.name,
        )
        del checkpoint
    loggers = build_loggers(cfg, wandb_id=plan.wandb_id)
    if rank_zero_only.rank == 0 and not (plan.resuming and (output_dir / RUN_FILE).exists()):
        write_run_file(output_dir, cfg, wandb_run_id_of(loggers), plan.parent)
    for logger in loggers if plan.parent else ():  # a continued run names its parent
        logger.log_hyperparams({"parent": plan.parent})
    callbacks = build_callbacks(cfg, with_logger=bool(loggers))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    try:
        with single_job_ddp(trainer):  # DDP in a multirun re-launches this job only
            fit_started, load_at_start = time.perf_counter(), load_average()
            start.begin_training()
            with readable_errors():
                trainer.fit(model, datamodule=data, ckpt_path=plan.ckpt_path)
            fit_s = time.perf_counter() - fit_started
            fit_metrics = {k: to_float(v) for k, v in trainer.callback_metrics.items()}
            best = _best_checkpoint(trainer)
            test_started = time.perf_counter()
            if cfg.get("test", True) and data.test_set is not None and len(data.test_set) > 0:
                trainer.test(model, datamodule=data, ckpt_path=best or None, verbose=False)
            test_s = time.perf_counter() - test_started
        metrics = {**fit_metrics, **{k: to_float(v) for k, v in trainer.callback_metrics.items()}}
        info = _run_record(cfg, trainer, model, data, backbone, best, output_dir, loggers, metrics)
        info["status"] = run_status(fit_metrics, info["monitor"]["best"])
        info["parent"] = plan.parent
        info["cost"] = _input_cost(model, data.image_size)
        images_seen = len(data.train_set) * max(trainer.current_epoch, 1)
        info["timing"] = {
            "fit_s": fit_s,
            "test_s": test_s,
            "total_s": time.perf_counter() - started,
            "train_images_per_s": images_seen / fit_s if fit_s > 0 else None,
        }
        device = trainer.strategy.root_device.type
        info["machine"] = {**machine_record(device), "load_at_start": load_at_start}
        publish_record(info, output_dir, trainer.is_global_zero)
        return info
    finally:
        finish_wandb()


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


def _input_cost(model: GrayscaleClassifier, image_size: Any) -> dict[str, Any]:
    """Parameters and stem MACs of the input path (`graytransfer.adapt.cost`); empty if they
    cannot be measured."""
    try:
        return input_cost(model, image_size)
    except UserError:  # no Conv2d stem to measure (e.g. a model without `first_conv`)
        return {}


def _best_checkpoint(trainer: L.Trainer) -> str | None:
    callback = trainer.checkpoint_callback
    if isinstance(callback, ModelCheckpoint) and callback.best_model_path:
        return callback.best_model_path
    return None


def _run_record(
    cfg, trainer, model, data, backbone, best, output_dir, loggers, metrics
) -> dict[str, Any]:
    monitor = cfg.monitor.metric
    callback = trainer.checkpoint_callback
    best_score = getattr(callback, "best_model_score", None) if callback else None
    chosen_by_checkpoint = best_score is not None and to_float(best_score) is not None
    wandb_runs = [lg for lg in loggers if isinstance(lg, WandbLogger)]
    # ranks > 0 hold a dummy W&B experiment with no folder
    wandb_dir = wandb_runs[0].experiment.dir if wandb_runs and trainer.is_global_zero else None
    return {
        "model": backbone.name,
        "pretrained": backbone.pretrained,
        "weights": backbone.weights,
        "strategy": model.strategy_name,
        "data": data.describe(),
        "classes": data.class_names,
        "image_size": list(data.image_size),
        "seed": cfg.get("seed"),
        "choices": hydra_choices(),
        "metrics": metrics,
        "monitor": {
            "metric": monitor,
            "mode": cfg.monitor.mode,
            "best": to_float(best_score) if best_score is not None else metrics.get(monitor),
            # where `best` comes from: the best checkpoint (the one tested) or the last epoch
            "best_from": "best checkpoint" if chosen_by_checkpoint else "last epoch",
        },
        "epochs": trainer.current_epoch,
        "best_checkpoint": best,
        "output_dir": str(output_dir),
        "wandb_dir": str(Path(wandb_dir).parent) if wandb_dir else None,
    }
