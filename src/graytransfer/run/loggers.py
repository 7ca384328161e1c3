"""Experiment loggers: W&B online when credentials exist, offline otherwise (and saying so);
MLflow on a local file store unless a tracking server is named; building the configured loggers of
a run (wandb, csv, tensorboard, mlflow, several at once), their run names, and ending the W&B
run."""

from __future__ import annotations

import netrc
import os
import sys
from pathlib import Path
from typing import Any

from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, MLFlowLogger, WandbLogger
from omegaconf import DictConfig, OmegaConf

from graytransfer.errors import UserError
from graytransfer.run.sweep import run_name, sweep_identity


def wandb_credentials_found() -> bool:
    """True when an API key is in `WANDB_API_KEY` or in ~/.netrc for the W&B host."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai").split("://")[-1]
    try:
        return netrc.netrc().authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        return False


def resolve_wandb_mode(mode: str = "auto") -> str:
    """`auto` -> `WANDB_MODE` if set, else `online` with credentials, else `offline`."""
    if mode != "auto":
        return mode
    env = os.environ.get("WANDB_MODE")
    if env:
        return env
    return "online" if wandb_credentials_found() else "offline"


def wandb_logger(
    project: str = "graytransfer",
    save_dir: str = ".",
    mode: str = "auto",
    name: str | None = None,
    group: str | None = None,
    tags: list[str] | None = None,
    job_type: str = "train",
    entity: str | None = None,
    **kwargs: Any,
) -> WandbLogger:
    """A Lightning `WandbLogger` whose files live in the run's output folder."""
    mode = resolve_wandb_mode(mode)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    if mode == "offline":
        print(
            f"W&B: no credentials (or WANDB_MODE=offline), logging offline under {save_dir}/wandb;"
            f" upload later with `wandb sync {save_dir}/wandb/offline-run-*`"
        )
    if mode == "disabled":
        kwargs["mode"] = "disabled"
    return WandbLogger(
        project=project,
        save_dir=save_dir,
        name=name,
        group=group,
        tags=list(tags or []),
        job_type=job_type,
        entity=entity,
        offline=mode == "offline",
        **kwargs,
    )


#: MLflow >= 3.7 refuses its file store unless this is set; a run without a tracking server
#: opts in (the store still works, in MLflow's "maintenance mode")
MLFLOW_FILE_STORE_ENV = "MLFLOW_ALLOW_FILE_STORE"


def mlflow_logger(
    experiment_name: str = "graytransfer",
    save_dir: str = "mlruns",
    tracking_uri: str | None = None,
    run_name: str | None = None,
    tags: list[str] | None = None,
    **kwargs: Any,
) -> MLFlowLogger:
    """A Lightning `MLFlowLogger`. With `tracking_uri` null it writes to the local file store
    `save_dir` (offline; `mlflow ui --backend-store-uri <save_dir>` shows it); else to that
    server. The run's `tags` become MLflow tags `<tag>: "true"`."""
    if tracking_uri is None:
        store = Path(save_dir).expanduser().resolve()
        store.mkdir(parents=True, exist_ok=True)
        tracking_uri = store.as_uri()
        os.environ.setdefault(MLFLOW_FILE_STORE_ENV, "true")
    return MLFlowLogger(
        experiment_name=experiment_name,
        run_name=run_name,
        tracking_uri=tracking_uri,
        tags={str(tag): "true" for tag in tags or []} or None,
        **kwargs,
    )


def logger_configs(cfg: DictConfig) -> dict[str, DictConfig]:
    """The loggers `cfg.logger` configures, by name.

    `conf/logger/<name>.yaml` puts each logger under its own name (`logger.wandb`, `logger.csv`),
    so `logger=[wandb,csv]` chooses both and `logger=none` none. A node with a `_target_` of its
    own is one logger (a config written flat). Raises UserError for an entry that is not a logger,
    e.g. a setting given at the wrong level (`logger.project=` for `logger.wandb.project=`)."""
    node = cfg.get("logger")
    if not node:
        return {}
    if "_target_" in node:
        return {"logger": node}
    loggers = {str(k): v for k, v in node.items() if isinstance(v, DictConfig) and "_target_" in v}
    stray = [str(k) for k in node if str(k) not in loggers]
    if stray:
        name, chosen = stray[0], ", ".join(loggers) or "none"
        if isinstance(node[name], DictConfig):  # settings of a logger that is not chosen
            raise UserError(
                f"logger.{name}: settings for a logger that is not chosen (loggers: {chosen}); "
                f"choose it too, e.g. logger=[{','.join([*loggers, name])}], or drop them"
            )
        raise UserError(
            f"logger.{name}: not a logger (loggers: {chosen}); a logger's setting goes under its "
            f"name, e.g. logger.wandb.{name}=...; loggers are chosen with logger=wandb, csv, "
            "tensorboard, mlflow, many, none or a list such as logger=[wandb,csv]"
        )
    return loggers


def is_wandb(node: DictConfig) -> bool:
    return str(node.get("_target_", "")).endswith("wandb_logger")


def is_mlflow(node: DictConfig) -> bool:
    return str(node.get("_target_", "")).endswith("mlflow_logger")


def build_loggers(cfg: DictConfig, wandb_id: str | None = None) -> list[Logger]:
    """The configured loggers (none, one or several), each given the resolved run config; a W&B
    logger continues run `wandb_id` when one is given, and gets its sweep's group and name (in a
    multirun) or the run's readable name (a single run), unless the config names them; an MLflow
    logger with `run_name: null` gets the same name."""
    loggers = []
    for node in logger_configs(cfg).values():
        extra: dict[str, Any] = {}
        if is_wandb(node):
            extra.update(_logger_identity(cfg, node))
            if wandb_id:
                extra.update(id=wandb_id, resume="allow")
        elif is_mlflow(node) and node.get("run_name") is None:
            name = _logger_identity(cfg, OmegaConf.create({"name": None})).get("name")
            if name:
                extra["run_name"] = name
        loggers.append(instantiate(node, **extra))
    resolved = OmegaConf.to_container(cfg, resolve=True)
    for each in loggers:
        each.log_hyperparams(resolved)
    return loggers


def _logger_identity(cfg: DictConfig, node: DictConfig) -> dict[str, str]:
    """A W&B logger left with `group: null`/`name: null` gets, in a multirun, the sweep's group
    and the job's name (graytransfer.run.sweep.sweep_identity), in a single run the name
    `<model>-<adapt>-<data>-s<seed>` (graytransfer.run.sweep.run_name); explicit values are
    untouched."""
    identity = sweep_identity(str(cfg.get("task_name", "train")))
    if identity is None:
        name = run_name(cfg)
        identity = {"name": name} if name else {}
    return {key: value for key, value in identity.items() if node.get(key) is None}


def finish_wandb() -> None:
    """End the W&B run so the next job of a sweep starts its own, with its files complete on
    return. `wandb.finish()` alone (wandb 0.31, offline) can return before the service has
    flushed the run's transaction log (seen as a 7-byte `run-*.wandb` file); `wandb.teardown()`
    waits for the service to exit, which writes it out. A run that never imported wandb
    (logger=csv) has none to end, and needs no wandb installed."""
    wandb = sys.modules.get("wandb")
    if wandb is not None and wandb.run is not None:
        wandb.finish()
        wandb.teardown()


def wandb_run_id_of(loggers: list[Logger]) -> str | None:
    return next((str(lg.version) for lg in loggers if isinstance(lg, WandbLogger)), None)
