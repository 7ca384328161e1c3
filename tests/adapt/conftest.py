"""Fixtures for the adaptation tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from helpers.adapt_helpers import classifier_net
from helpers.configs import CONF
from hydra.utils import instantiate
from omegaconf import OmegaConf
from torch import nn

from graytransfer.adapt.base import Strategy

ADAPT_CONF = CONF / "adapt"


@pytest.fixture(scope="session")
def nets() -> Callable[..., nn.Module]:
    """`nets(name, **kwargs)`: a cached float32 `classifier_net` (copy it before changing it)."""
    cache: dict[tuple, nn.Module] = {}

    def get(name: str, **kwargs) -> nn.Module:
        key = (name, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = classifier_net(name, **kwargs)
        return cache[key]

    return get


@pytest.fixture(scope="session")
def strategies() -> dict[str, Callable[[], Strategy]]:
    """name -> a factory building a fresh strategy from its real `conf/adapt/NAME.yaml`."""
    return {
        p.stem: (lambda p=p: instantiate(OmegaConf.load(p)))
        for p in sorted(ADAPT_CONF.glob("*.yaml"))
    }
