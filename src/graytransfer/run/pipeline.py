"""train(cfg): plan the run (new or resumed), build its parts, fit and test, and record it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.loggers import WandbLogger
from omegaconf import DictConfig

from graytransfer.adapt.cost import input_cost
from graytransfer.config import check_missing, hydra_choices
from graytransfer.console import route_library_logs
from graytransfer.errors import UserError
from graytransfer.run.build import RunParts, build_run
from graytransfer.run.cv import write_oof
from graytransfer.run.evaluation import TestEvaluation, evaluate_test_split, with_evaluation
from graytransfer.run.fit import FitOutcome, fit_and_test
from graytransfer.run.guards import check_accelerator, check_optimizer, check_seed, check_trains
from graytransfer.run.job import run_status
from graytransfer.run.loggers import finish_wandb
from graytransfer.run.machine import machine_record
from graytransfer.run.record import RunRecord, publish_record, to_float
from graytransfer.run.resume import ResumePlan, plan_resume
from graytransfer.run.start import leave_unused, removed_if_start_fails, save_hydra_config


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment and return its record (also written to `metrics.json`).

    Before any work: the seed, required values (`data.root`...), the accelerator, a trainer
    that trains no step and the optimizer/schedule values are checked. The run folder (a new
    one, or a resumed run's own) is then locked for this process until the run ends; a second
    process asking for it stops with a UserError. Hydra's `.hydra/` files are written under the
    lock; a start that fails before training leaves no run folder (`graytransfer.run.start`)."""
    started = time.perf_counter()
    route_library_logs()  # Lightning's messages and warnings into train.log too
    hydra_dir = Path(cfg.paths.output_dir)
    with removed_if_start_fails(hydra_dir) as start:
        seed = check_seed(cfg.get("seed"))
        check_accelerator(cfg)
        check_trains(cfg)
        check_optimizer(cfg)
        plan = plan_resume(cfg)  # a resumed run continues in its own folder
        check_missing(cfg)  # a value left at ??? (data.root, ...): one line
        if seed is not None:
            L.seed_everything(seed, workers=True, verbose=False)
        if str(plan.output_dir) != str(cfg.paths.output_dir):
            cfg.paths.output_dir = str(plan.output_dir)
        with plan.folder.lock():
            plan.folder.check_not_finished()  # again, now that no other process can finish it
            leave_unused(hydra_dir, plan.output_dir)
            save_hydra_config(cfg, plan.folder)
            try:
                parts = build_run(cfg, plan)
                outcome = fit_and_test(cfg, parts, plan.ckpt_path, start)
                tested = evaluate_test_split(  # predictions.csv, the intervals
                    parts.trainer,
                    parts.model,
                    parts.data,
                    cfg.get("eval"),
                    seed,
                    plan.folder,
                    parts.loggers,
                )
                best = outcome.best_checkpoint
                write_oof(parts.trainer, parts.model, parts.data, plan.folder, cfg, best)  # run.cv
                record = run_record(cfg, parts, outcome, plan, started, tested).as_dict()
                publish_record(record, plan.output_dir, parts.trainer.is_global_zero)
                return record
            finally:
                finish_wandb()


def run_record(
    cfg: DictConfig,
    parts: RunParts,
    outcome: FitOutcome,
    plan: ResumePlan,
    started: float,
    tested: TestEvaluation | None = None,
) -> RunRecord:
    """The record of a fitted and tested run (with the test metrics' intervals, `tested`)."""
    tested = tested or TestEvaluation()
    trainer, model, data, backbone = parts.trainer, parts.model, parts.data, parts.backbone
    callback = trainer.checkpoint_callback
    best_score = getattr(callback, "best_model_score", None) if callback else None
    chosen_by_checkpoint = best_score is not None and to_float(best_score) is not None
    best = (
        to_float(best_score) if best_score is not None else outcome.metrics.get(cfg.monitor.metric)
    )
    wandb_runs = [lg for lg in parts.loggers if isinstance(lg, WandbLogger)]
    # ranks > 0 hold a dummy W&B experiment with no folder
    wandb_dir = wandb_runs[0].experiment.dir if wandb_runs and trainer.is_global_zero else None
    images_seen = len(data.train_set) * max(trainer.current_epoch, 1)
    return RunRecord(
        model=backbone.name,
        pretrained=backbone.pretrained,
        weights=backbone.weights,
        strategy=model.strategy_name,
        data=data.describe(),
        classes=data.class_names,
        image_size=list(data.image_size),
        seed=cfg.get("seed"),
        choices=hydra_choices(),
        metrics=with_evaluation(outcome.metrics, tested),
        monitor={
            "metric": cfg.monitor.metric,
            "mode": cfg.monitor.mode,
            "best": best,
            "best_from": "best checkpoint" if chosen_by_checkpoint else "last epoch",
        },
        epochs=trainer.current_epoch,
        best_checkpoint=outcome.best_checkpoint,
        output_dir=str(plan.output_dir),
        wandb_dir=str(Path(wandb_dir).parent) if wandb_dir else None,
        status=run_status(outcome.fit_metrics, best),
        parent=plan.parent,
        cost=_input_cost(model, data.image_size),
        timing={
            "fit_s": outcome.fit_s,
            "test_s": outcome.test_s,
            "total_s": time.perf_counter() - started,
            "train_images_per_s": images_seen / outcome.fit_s if outcome.fit_s > 0 else None,
        },
        machine={
            **machine_record(trainer.strategy.root_device.type),
            "load_at_start": outcome.load_at_start,
        },
        intervals=tested.intervals,
        subgroups=tested.subgroups,
        calibration=outcome.calibration,
    )


def _input_cost(model: Any, image_size: Any) -> dict[str, Any]:
    """Parameters and stem MACs of the input path (`graytransfer.adapt.cost`); empty if they
    cannot be measured."""
    try:
        return input_cost(model, image_size)
    except UserError:  # no Conv2d stem to measure (e.g. a model without `first_conv`)
        return {}
