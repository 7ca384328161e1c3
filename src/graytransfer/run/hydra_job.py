"""What the running Hydra job is: its `hydra` node, whether it is a multirun job, and the
config-group choices it was composed from. Outside `@hydra.main` (a config composed in a test or
by a tool) there is no job: None, False and no choices."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from graytransfer.config import conf_dir


def hydra_runtime() -> Any | None:
    """The running Hydra job's `hydra` node, or None outside `@hydra.main`."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except ValueError:
        return None


def in_multirun() -> bool:
    """True inside a job launched by `python train.py -m ...` (any sweeper, any launcher)."""
    from hydra.types import RunMode

    hydra_cfg = hydra_runtime()
    return hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN


def hydra_choices() -> dict[str, str]:
    """The config-group choices of the running Hydra job (`model: lite0`, ...), if any."""
    hydra_cfg = hydra_runtime()
    if hydra_cfg is None:
        return {}
    choices = hydra_cfg.runtime.choices
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra/") and v is not None}


def data_choice(cfg: DictConfig) -> str:
    """`csv`, `folder`, ...: the data choice of the job, else the conf/data file naming the
    config's `_target_`, else the target's class name (for messages)."""
    target = str(cfg.data.get("_target_", "?"))
    files = sorted((conf_dir() / "data").glob("*.yaml"))
    named = (p.stem for p in files if target in p.read_text())
    return hydra_choices().get("data") or next(named, target.rsplit(".", 1)[-1])
