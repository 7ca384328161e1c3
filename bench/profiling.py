"""Where the Lightning loop's time goes, for `bench.overhead`: by package (cProfile self time) and
by component of a run (`ComponentTimer`: each callback, each logger, `self.log`, the metric
updates, the epoch-end metrics, the checkpoint writes), with the host syncs each one asks for."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning as L
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig

from bench.loop import seed_all
from graytransfer.run import build_data_and_model

#: where profiled time goes: (label, path fragment) checked in order; C calls are `~`
PACKAGES = (
    ("lightning", "/lightning/"),
    ("torchmetrics", "/torchmetrics/"),
    ("graytransfer", "/graytransfer/"),
    ("timm", "/timm/"),
    ("torch (Python)", "/torch/"),
)

#: the hooks and methods timed on every callback, logger and the module
CALLBACK_METHODS = tuple(
    name
    for name in dir(L.Callback)
    if name.startswith("on_") or name in ("setup", "teardown", "state_dict")
)
LOGGER_METHODS = ("log_metrics", "log_hyperparams", "save", "finalize", "after_save_checkpoint")
#: tensor -> Python conversions: each one waits for the device's queued work (a host sync)
SYNC_METHODS = ("item", "tolist", "__float__", "__bool__", "__int__")
#: the module's own parts of a training step, timed apart from the forward/backward
STEP = "step: forward, loss, backward, optimiser (the bare loop's work)"
LOOP = "Lightning loop, rest"


def profile_shares(cfg: DictConfig) -> dict[str, float]:
    """Share of the `trainer.fit` time of `cfg`'s run (no callbacks, no logger) spent in each
    package's own Python code (cProfile self time) and in C calls (the tensor work). Load slows
    all parts alike, so the shares hold on a busy machine; the profiler's per-call cost inflates
    the Python shares, making them upper bounds."""
    import cProfile
    import pstats

    shares: dict[str, float] = {}
    seed_all(cfg.seed)
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    trainer = instantiate(cfg.trainer, callbacks=[], logger=False)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.fit(model, datamodule=data)
    profiler.disable()
    for (file, _, _), (_, _, self_time, _, _) in pstats.Stats(profiler).stats.items():
        label = "C calls (tensor work)" if file == "~" else "other Python"
        for name, fragment in PACKAGES:
            if fragment in file.replace("\\", "/"):
                label = name
                break
        shares[label] = shares.get(label, 0.0) + self_time
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}


class ComponentTimer(L.Callback):
    """Splits a fit's wall time between its components, for a run built as `train.py` builds it
    (add it through the config like any callback; it writes `out` as JSON when fitting ends).

    At `setup` it wraps, on the instances only, every other callback's hooks (one component per
    callback class), every logger's writing methods, the module's `log`/`log_dict`, its task's
    metric `update`, its `on_train_epoch_end` (the epoch's metric compute), the checkpoint IO's
    `save_checkpoint` (serialise + write) and `optimizer_step` (with `training_step`: the step
    itself). Times are exclusive (a timed call inside another counts once, for the inner one);
    the fit's time not in any component is Lightning's own loop. It also counts the tensor ->
    Python conversions (`.item()`, `float(t)`, `bool(t)`, ...) made inside each component: on a
    GPU each one waits for the queued work, so they cost there what they do not cost here.
    Timing wrappers cost about a microsecond a call."""

    def __init__(self, out: str) -> None:
        self.out = Path(out)
        self.seconds: dict[str, float] = {}
        self.syncs: dict[str, int] = {}
        self.stack: list[list[Any]] = []  # [component, start, time of timed children]
        self.fit_start = 0.0
        self.batches = 0
        self.epochs = 0
        self._restore: list[Callable[[], None]] = []

    # -- wrapping ------------------------------------------------------------------------------

    def _timed(self, component: str, method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.stack.append([component, time.perf_counter(), 0.0])
            try:
                return method(*args, **kwargs)
            finally:
                name, start, children = self.stack.pop()
                spent = time.perf_counter() - start
                self.seconds[name] = self.seconds.get(name, 0.0) + spent - children
                if self.stack:
                    self.stack[-1][2] += spent

        return wrapper

    def _wrap(self, obj: Any, names: tuple[str, ...], component: str) -> None:
        for name in names:
            method = getattr(obj, name, None)
            if callable(method) and name not in vars(obj):
                setattr(obj, name, self._timed(component, method))
                self._restore.append(functools.partial(delattr, obj, name))

    def _count_syncs(self) -> None:
        for name in SYNC_METHODS:
            original = getattr(torch.Tensor, name)

            def counted(tensor, *args, _original=original, **kwargs):
                where = self.stack[-1][0] if self.stack else LOOP
                self.syncs[where] = self.syncs.get(where, 0) + 1
                return _original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, counted)
            self._restore.append(functools.partial(setattr, torch.Tensor, name, original))

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        for callback in trainer.callbacks:
            if callback is not self:
                self._wrap(callback, CALLBACK_METHODS, f"callback {type(callback).__name__}")
        for logger in trainer.loggers:
            self._wrap(logger, LOGGER_METHODS, f"logger {type(logger).__name__}")
        self._wrap(pl_module, ("log", "log_dict"), "self.log (per step and epoch)")
        self._wrap(pl_module, ("on_train_epoch_end",), "epoch-end metric compute")
        self._wrap(pl_module, ("training_step", "optimizer_step"), STEP)
        task = getattr(pl_module, "task", None)
        if task is not None:
            self._wrap(task, ("update",), "per-step metric updates (torchmetrics)")
        self._wrap(
            trainer.strategy.checkpoint_io, ("save_checkpoint",), "checkpoint serialise + write"
        )
        self._count_syncs()

    # -- the fit's frame -----------------------------------------------------------------------

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.fit_start = time.perf_counter()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.batches += 1

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.epochs += 1

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        total = time.perf_counter() - self.fit_start
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.result(total)))

    def result(self, total: float) -> dict[str, Any]:
        """Per component: seconds, ms per batch, share of the fit and host syncs per batch;
        the rest of the fit's time is `LOOP`."""
        seconds = dict(self.seconds)
        seconds[LOOP] = max(total - sum(seconds.values()), 0.0)
        batches = max(self.batches, 1)
        return {
            "fit_s": total,
            "batches": self.batches,
            "epochs": self.epochs,
            "components": {
                name: {
                    "seconds": value,
                    "ms_per_batch": 1000 * value / batches,
                    "share": value / total if total else None,
                    "syncs_per_batch": self.syncs.get(name, 0) / batches,
                }
                for name, value in sorted(seconds.items(), key=lambda kv: -kv[1])
            },
        }
