"""Composing the real Hydra configs for tests (importable as `configs`: tests/ is on the path).

Kept out of conftest.py so that test modules import it by a unique name: several conftest.py
files exist (tests/adapt/ has its own) and `from conftest import ...` would pick whichever was
imported first.
"""

from __future__ import annotations

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

REPO = Path(__file__).resolve().parents[1]
CONF = REPO / "conf"


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
