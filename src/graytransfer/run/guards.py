"""Guards that turn silent failures into one clear message before a run starts: a seed that is
not an integer, an accelerator torch cannot see, a config that trains no step, optimizer or
schedule values that cannot work. (The image size is checked by `graytransfer.model.build`, a
finished run's folder by `RunFolder.check_not_finished`; a diverging model is caught while
training, by `graytransfer.callbacks.nan_guard`.)"""

from __future__ import annotations

import math
from typing import Any

import torch
from omegaconf import DictConfig

from graytransfer.errors import UserError


def check_seed(seed: Any) -> int | None:
    """`seed: null` means unseeded; any int, 0 included, seeds everything."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserError(f"seed: {seed!r} is not an integer (or null for no seeding)")
    return seed


def check_trains(cfg: DictConfig) -> None:
    """Refuse a trainer config that trains no step (`max_epochs=0`, `max_steps=0`,
    `limit_train_batches=0`: its test metrics would score an untrained model)."""
    trainer = cfg.get("trainer") or {}
    if trainer.get("fast_dev_run"):  # one batch of each stage, whatever the limits say
        return
    for key, fix in (
        ("max_epochs", "1 or more (or -1 with trainer.max_steps)"),
        ("max_steps", "-1 (no limit) or 1 or more"),
        ("limit_train_batches", "a fraction in (0, 1] or a number of batches >= 1"),
    ):
        value = trainer.get(key)
        if _is_number(value) and value == 0:
            raise UserError(
                f"trainer.{key}={value} trains no step (the test would score an untrained "
                f"model); set trainer.{key} to {fix}"
            )


#: trainer.accelerator values that need a device torch may not see: (its name, is it visible)
_DEVICE_KINDS = {
    "gpu": ("GPU", lambda: torch.cuda.is_available()),
    "cuda": ("GPU", lambda: torch.cuda.is_available()),
    "mps": ("Apple MPS GPU", lambda: torch.backends.mps.is_available()),
}


def check_accelerator(cfg: DictConfig) -> None:
    """Refuse, before any work, a `trainer.accelerator` (gpu, cuda, mps; e.g. from `trainer=gpu`,
    `ddp` or `mps`) whose device torch cannot see; `auto`, `cpu` and others pass. The UserError
    names the key and says to use `trainer=cpu`."""
    trainer = cfg.get("trainer") or {}
    accelerator = str(trainer.get("accelerator") or "auto").lower()
    if accelerator not in _DEVICE_KINDS:
        return
    kind, visible = _DEVICE_KINDS[accelerator]
    if not visible():
        raise UserError(
            f"trainer.accelerator={accelerator}: torch sees no {kind} on this machine "
            f"(torch {torch.__version__}); use trainer=cpu (or trainer.accelerator=auto)"
        )


def check_optimizer(cfg: DictConfig) -> None:
    """Refuse optimizer and schedule values that cannot train (checked before the data scan):
    `optim.lr` a finite number > 0, `optim.weight_decay` >= 0, `optim.eps` > 0, `optim.betas`
    two numbers in [0, 1), `optim.momentum` in [0, 1), `scheduler.warmup_fraction` and
    `scheduler.min_lr_ratio` in [0, 1]. Keys a config does not set are not checked."""
    optim = cfg.get("optim") or {}
    scheduler = cfg.get("scheduler") or {}
    _check_range("optim.lr", optim.get("lr"), "a finite number > 0, e.g. 1e-3", low_open=0.0)
    _check_range("optim.weight_decay", optim.get("weight_decay"), "a number >= 0", low=0.0)
    _check_range("optim.eps", optim.get("eps"), "a small number > 0, e.g. 1e-8", low_open=0.0)
    _check_range("optim.momentum", optim.get("momentum"), "a number in [0, 1)", low=0.0, high=1.0)
    betas = optim.get("betas")
    if betas is not None:
        if isinstance(betas, str) or not hasattr(betas, "__len__") or len(betas) != 2:
            raise UserError(
                f"optim.betas={betas} is not valid; use two numbers in [0, 1), e.g. "
                "optim.betas=[0.9,0.999]"
            )
        for i, beta in enumerate(betas):
            _check_range(f"optim.betas[{i}]", beta, "a number in [0, 1)", low=0.0, high=1.0)
    for key in ("warmup_fraction", "min_lr_ratio"):
        _check_range(
            f"scheduler.{key}", scheduler.get(key), "a number in [0, 1]", low=0.0, high_closed=1.0
        )


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_range(
    key: str,
    value: Any,
    expected: str,
    low: float | None = None,
    low_open: float | None = None,
    high: float | None = None,
    high_closed: float | None = None,
) -> None:
    """`value` (if set) is a finite number with low <= value (low_open < value) and value < high
    (value <= high_closed); else a UserError naming `key` and `expected`."""
    if value is None:
        return
    fits = _is_number(value) and math.isfinite(value)
    if fits and low is not None:
        fits = value >= low
    if fits and low_open is not None:
        fits = value > low_open
    if fits and high is not None:
        fits = value < high
    if fits and high_closed is not None:
        fits = value <= high_closed
    if not fits:
        raise UserError(f"{key}={value} is not valid; use {expected}")
