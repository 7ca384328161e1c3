"""Shared test fixtures: compose the real Hydra configs, offline W&B, small fast runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"

# Tests never touch the network: the hub is offline and W&B writes offline runs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


def compose_config(overrides: list[str], output_dir: Path) -> DictConfig:
    """The real `conf/train.yaml` with `overrides`, writing into `output_dir`."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        cfg.paths.log_dir = str(output_dir / "logs")
        cfg.paths.data_dir = str(output_dir / "data")
    return cfg


#: overrides that make a run small: tiny images, one batch of each stage, no progress bar
FAST = [
    "data.image_size=32",
    "trainer.fast_dev_run=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.rich_progress_bar",
]


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("adapt=sum", ...)` composes the real config into this test's tmp folder."""

    def make(*overrides: str, fast: bool = True) -> DictConfig:
        return compose_config([*(FAST if fast else []), *overrides], tmp_path / "run")

    return make
