"""Shared test fixtures: compose the real Hydra configs, offline W&B, small fast runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.configs import FAST, compose_config
from omegaconf import DictConfig

# Tests never touch the network: the hub is offline and W&B writes offline runs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("adapt=sum", ...)` composes the real config into this test's tmp folder."""

    def compose_run(*overrides: str, fast: bool = True) -> DictConfig:
        return compose_config([*(FAST if fast else []), *overrides], tmp_path / "run")

    return compose_run
