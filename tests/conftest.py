"""Shared test fixtures: compose the real Hydra configs, offline W&B, small fast runs."""

from __future__ import annotations

import os

# One torch thread per test process, and the same count in every child it starts (child_env
# copies os.environ): on 2 cores `pytest -n 2` workers with torch's default threads each
# oversubscribe (a 2-fold CV sweep took 57 s on 2 threads and 5.8 s on 1, load ~5), and a run
# split between a child and this process (stopped, then resumed) must reduce in the same order
# as the uninterrupted one to give bit-identical metrics. Set before anything imports torch.
os.environ.setdefault("OMP_NUM_THREADS", "1")
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from helpers.configs import FAST, compose_config
from omegaconf import DictConfig

# Tests never touch the network: the hub is offline and W&B writes offline runs.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


@pytest.fixture
def make_cfg(tmp_path: Path) -> Callable[..., DictConfig]:
    """`make_cfg("adapt=sum", ...)` composes the real config into this test's tmp folder."""

    def compose_run(*overrides: str, fast: bool = True) -> DictConfig:
        return compose_config([*(FAST if fast else []), *overrides], tmp_path / "run")

    return compose_run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tier's end-to-end runs first, each tier in collection order otherwise.

    `pytest -n 2` (xdist's load scheduling) hands each worker a block of tests and tops it up as
    it goes; in collection order a 90 s run (the README's default run) could start near the end
    and leave the other core idle. Slow tests first, the short ones fill both cores at the end.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
