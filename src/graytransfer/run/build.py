"""Build a run's parts from its config: the data module and the classifier (through
`graytransfer.model.build`), the loggers, the callbacks and the trainer, checked against each
other (image size, a resumed checkpoint) before any training."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelSummary, ProgressBar
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from omegaconf import DictConfig

from graytransfer.data.base import GrayscaleDataModule
from graytransfer.evaluation.collect import TestPredictions
from graytransfer.evaluation.subgroups import check_subgroup_data
from graytransfer.model.backbone import Backbone
from graytransfer.model.build import build_data_and_model, check_input_size
from graytransfer.model.checkpoint_file import check_compatible, read_checkpoint
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.run.cv import write_folds
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
    check_input_size(model, data.image_size, str(cfg.model.name))
    check_subgroup_data(cfg.get("eval"), data)  # eval.subgroups: the CSV has those columns
    if plan.resuming:
        check_compatible(
            read_checkpoint(plan.ckpt_path),
            plan.ckpt_path,
            str(cfg.model.name),
            model.strategy_name,
            data.class_names,
            task=model.task.name,
        )
    if rank_zero_only.rank == 0:
        plan.folder.write_split(*data.split_record())  # classes.json, split.csv, bad_files.txt
        write_folds(plan.folder, data)  # folds.csv of a cross-validation fold (run.cv)
    loggers = build_loggers(cfg, wandb_id=plan.wandb_id)
    if rank_zero_only.rank == 0 and not (plan.resuming and plan.folder.has_run_file()):
        plan.folder.write_run_file(run_file_content(cfg, wandb_run_id_of(loggers), plan.parent))
    for logger in loggers if plan.parent else ():  # a continued run names its parent
        logger.log_hyperparams({"parent": plan.parent})
    # the test's per-image predictions: predictions.csv and the intervals (run.evaluation)
    callbacks = [*build_callbacks(cfg, with_logger=bool(loggers)), TestPredictions()]
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    return RunParts(backbone, data, model, loggers, trainer)
