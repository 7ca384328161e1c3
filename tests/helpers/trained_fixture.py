"""A tiny trained run shared by the evaluate, predict, export and bad-input tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from graytransfer.config import compose
from graytransfer.run.pipeline import train
from helpers.configs import compose_config

#: timm's test EfficientNet at 16x16 on the digits, deterministic, a few batches an epoch
TINY = [
    "model=timm",
    "model.name=test_efficientnet",
    "model.pretrained=false",
    "data.image_size=16",
    "data.batch_size=32",
    "trainer.max_epochs=2",
    "+trainer.limit_train_batches=3",
    "+trainer.limit_val_batches=2",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "callbacks=[model_checkpoint,nan_guard]",
    "seed=3",
]


def compose_task(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The real `conf/<config_name>.yaml` (evaluate, predict, export) writing into `output_dir`."""
    return compose(overrides, config_name=config_name, output_dir=output_dir)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(run folder, metrics.json record) of a finished tiny run with best.ckpt and last.ckpt."""
    if "run" not in _TRAINED:  # one run per session, however many modules import the fixture
        run_dir = tmp_path_factory.mktemp("trained") / "run"
        _TRAINED["run"] = (run_dir, train(compose_config([*TINY, "logger=none"], run_dir)))
    return _TRAINED["run"]


_TRAINED: dict[str, tuple[Path, dict[str, Any]]] = {}
