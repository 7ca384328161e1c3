"""Real checkpoints without training: a tiny model built by the project's one recipe from the real
config (seeded weights), saved as the pipeline saves it (the ensemble, TTA and compare tests)."""

from __future__ import annotations

from pathlib import Path

import torch
from hydra.utils import instantiate

from graytransfer.run import build_data_and_model
from helpers.configs import TINY_RUN, compose_config


def write_checkpoint(path: Path, seed: int, *overrides: str, thresholds=None) -> Path:
    """A checkpoint at `path` of timm's untrained test EfficientNet (TINY_RUN: digits, 16x16)
    with weights drawn from `seed`, `overrides` applied and, for a thresholded task,
    `thresholds` stored."""
    cfg = compose_config([*TINY_RUN, f"seed={seed}", *overrides], path.parent / "work")
    torch.manual_seed(seed)
    _, model = build_data_and_model(cfg, instantiate(cfg.model))
    if thresholds is not None:
        model.thresholds.copy_(torch.tensor(thresholds))
    checkpoint = {"state_dict": model.state_dict(), "hyper_parameters": dict(model.hparams)}
    model.on_save_checkpoint(checkpoint)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path


def gray_images(size: int = 16, n: int = 5, seed: int = 0) -> torch.Tensor:
    """`n` random uint8 (1, size, size) images, seeded."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=gen)
