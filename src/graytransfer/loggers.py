"""Experiment loggers: W&B online when credentials exist, offline otherwise (and saying so)."""

from __future__ import annotations

import netrc
import os
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import WandbLogger


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
