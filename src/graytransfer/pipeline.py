"""train(cfg): compose the parts named by the Hydra config, fit, test, and record the run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import Logger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from graytransfer.backbone import Backbone
from graytransfer.data.base import NATIVE, GrayscaleDataModule
from graytransfer.errors import UserError
from graytransfer.module import GrayscaleClassifier
from graytransfer.runinfo import print_summary, to_float, write_json_atomic


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


def build_data(cfg: DictConfig, backbone: Backbone) -> GrayscaleDataModule:
    """Instantiate the data module at the resolved image size and run its setup."""
    size = cfg.data.get("image_size", NATIVE)
    if size == NATIVE:
        size = list(backbone.native_size())
    data = instantiate(cfg.data, image_size=size, seed=cfg.seed if cfg.seed is not None else 0)
    data.prepare_data()
    data.setup("fit")
    if data.num_classes < 2:
        raise UserError(f"data: found {data.num_classes} class(es); a classifier needs at least 2")
    return data


def build_loggers(cfg: DictConfig) -> list[Logger]:
    if not cfg.get("logger"):
        return []
    logger = instantiate(cfg.logger)
    loggers = logger if isinstance(logger, list) else [logger]
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for each in loggers:
        each.log_hyperparams(resolved)
    return loggers


def build_callbacks(cfg: DictConfig, with_logger: bool) -> list[L.Callback]:
    """The configured callbacks; those that need a logger are dropped when there is none."""
    callbacks = [
        instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c and "_target_" in c
    ]
    if not with_logger:
        callbacks = [c for c in callbacks if not isinstance(c, LearningRateMonitor)]
    return callbacks


def finish_wandb() -> None:
    """End the W&B run so the next job of a sweep starts its own."""
    import wandb

    if wandb.run is not None:
        wandb.finish()


def train(cfg: DictConfig) -> dict[str, Any]:
    """Run one experiment and return its record (also written to `metrics.json`)."""
    started = time.perf_counter()
    seed = check_seed(cfg.get("seed"))
    if seed is not None:
        L.seed_everything(seed, workers=True, verbose=False)
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)

    backbone: Backbone = instantiate(cfg.model)
    backbone.check_weights_available()
    data = build_data(cfg, backbone)
    model = GrayscaleClassifier(
        backbone=backbone,
        adapt=instantiate(cfg.adapt),
        head=instantiate(cfg.head),
        optimizer=instantiate(cfg.optim),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        num_classes=data.num_classes,
        class_names=data.class_names,
        label_smoothing=cfg.get("label_smoothing", 0.0),
        config=OmegaConf.to_container(cfg, resolve=True),
    )
    loggers = build_loggers(cfg)
    callbacks = build_callbacks(cfg, with_logger=bool(loggers))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    try:
        fit_started = time.perf_counter()
        trainer.fit(model, datamodule=data, ckpt_path=cfg.get("ckpt_path"))
        fit_s = time.perf_counter() - fit_started
        fit_metrics = {k: to_float(v) for k, v in trainer.callback_metrics.items()}
        best = _best_checkpoint(trainer)
        test_started = time.perf_counter()
        if data.test_set is not None and len(data.test_set) > 0:
            trainer.test(model, datamodule=data, ckpt_path=best or None, verbose=False)
        test_s = time.perf_counter() - test_started
        metrics = {**fit_metrics, **{k: to_float(v) for k, v in trainer.callback_metrics.items()}}
        info = _run_record(cfg, trainer, model, data, backbone, best, output_dir, loggers, metrics)
        images_seen = len(data.train_set) * max(trainer.current_epoch, 1)
        info["timing"] = {
            "fit_s": fit_s,
            "test_s": test_s,
            "total_s": time.perf_counter() - started,
            "train_images_per_s": images_seen / fit_s if fit_s > 0 else None,
        }
        if trainer.is_global_zero:
            write_json_atomic(output_dir / "metrics.json", info)
            print_summary(info)
        return info
    finally:
        finish_wandb()


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
    wandb_dir = next((lg.experiment.dir for lg in loggers if isinstance(lg, WandbLogger)), None)
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
        },
        "epochs": trainer.current_epoch,
        "best_checkpoint": best,
        "output_dir": str(output_dir),
        "wandb_dir": str(Path(wandb_dir).parent) if wandb_dir else None,
    }
