"""A tiny trained run shared by the evaluate, predict, export and bad-input tests.

It learns (its test accuracy is well above the 10% chance of the ten digits), and by design its
best checkpoint is NOT its last: the run monitors `val/acc` with `mode=min`, so `best.ckpt` is the
first epoch (the least trained) and `last.ckpt` the end of training. A tool that tests, evaluates,
predicts or exports the last weights where it should use the best then gets other numbers than
the run recorded (tests/tools/test_trained_fixture.py asserts both properties).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import DictConfig

from graytransfer.config import compose
from graytransfer.run import train
from helpers.configs import TEST_NET, compose_config

#: timm's test EfficientNet at 16x16 on the digits, deterministic, 3 batches of 64 an epoch at a
#: learning rate that learns within them
TINY = [
    *TEST_NET,
    "data.batch_size=64",
    "optim.lr=1e-2",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=2",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "trainer.log_every_n_steps=1",
    "callbacks=[model_checkpoint,nan_guard]",
    "seed=3",
]


#: the shared run keeps its LEAST accurate epoch as best.ckpt (the first, as accuracy rises), so
#: best and last always differ
BEST_IS_NOT_LAST = ["monitor.mode=min"]


def compose_task(config_name: str, overrides: list[str], output_dir: Path) -> DictConfig:
    """The real `conf/<config_name>.yaml` (evaluate, predict, export) writing into `output_dir`."""
    return compose(overrides, config_name=config_name, output_dir=output_dir)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """(run folder, metrics.json record) of a finished tiny run with best.ckpt (its first
    epoch) and last.ckpt (its last), see the module docstring."""
    if "run" not in _TRAINED:  # one run per session, however many modules import the fixture
        run_dir = tmp_path_factory.mktemp("trained") / "run"
        cfg = compose_config([*TINY, *BEST_IS_NOT_LAST, "logger=none"], run_dir)
        _TRAINED["run"] = (run_dir, train(cfg))
    return _TRAINED["run"]


_TRAINED: dict[str, tuple[Path, dict[str, Any]]] = {}
