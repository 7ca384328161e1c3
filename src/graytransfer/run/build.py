"""Build a run's parts from its config: the data module, the classifier, the loggers, the
callbacks and the trainer, checked against each other (image size, a resumed checkpoint) before
any training."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from graytransfer.data.base import GrayscaleDataModule
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
from graytransfer.run.guards import check_input_size
from graytransfer.run.hydra_job import data_choice
from graytransfer.run.loggers import build_loggers, wandb_run_id_of
from graytransfer.run.resume import ResumePlan, run_file_content


@dataclass
class RunParts:
    """What `Trainer.fit` needs, built and checked: the backbone, the data module (set up), the
    classifier, the loggers and the trainer."""

    backbone: Backbone
    data: GrayscaleDataModule
    model: GrayscaleClassifier
    loggers: list[Logger]
    trainer: L.Trainer


def build_data(cfg: DictConfig, image_size: tuple[int, int]) -> GrayscaleDataModule:
    """Instantiate the data module at `image_size` (see `resolve_image_size`) and set it up."""
    seed = cfg.seed if cfg.seed is not None else 0
    data = instantiate(cfg.data, image_size=list(image_size), seed=seed)
    data.prepare_data()
    data.setup("fit")
    build_task(cfg).check_data(data.class_names, data.train_set.labels, f"data={data_choice(cfg)}")
    if data.num_classes < 2:
        raise UserError(
            f"data: found {data.num_classes} class(es) {data.class_names}; a classifier needs at "
            "least 2: give every class its own sub-folder (or label) with images"
        )
    return data


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


def build_run(cfg: DictConfig, plan: ResumePlan) -> RunParts:
    """Every part of the run in `plan.folder` (which this process holds): the backbone (its
    weights checked before the data is read), the data and the classifier (checked to take the
    image size; a resumed checkpoint checked to match), the data's split written to the folder,
    the loggers (the run file records the W&B id; a continued run names its parent), the
    callbacks and the trainer."""
    backbone: Backbone = instantiate(cfg.model)
    backbone.check_weights_available()  # before the data is read; build() does not ask again
    data, model = build_data_and_model(cfg, backbone)
    if rank_zero_only.rank == 0:
        plan.folder.write_split(*data.split_record())  # classes.json, split.csv, bad_files.txt
    check_input_size(model, data.image_size, str(cfg.model.name))
    if plan.resuming:
        check_compatible(
            read_checkpoint(plan.ckpt_path),
            plan.ckpt_path,
            str(cfg.model.name),
            model.strategy_name,
            data.class_names,
            task=model.task.name,
        )
    loggers = build_loggers(cfg, wandb_id=plan.wandb_id)
    if rank_zero_only.rank == 0 and not (plan.resuming and plan.folder.has_run_file()):
        plan.folder.write_run_file(run_file_content(cfg, wandb_run_id_of(loggers), plan.parent))
    for logger in loggers if plan.parent else ():  # a continued run names its parent
        logger.log_hyperparams({"parent": plan.parent})
    callbacks = build_callbacks(cfg, with_logger=bool(loggers))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return RunParts(backbone, data, model, loggers, trainer)
