"""The bare PyTorch side of the benchmarks: the framework's own parts (input module, timm
backbone, head, optimiser, schedule) built from the composed config and trained by a plain loop,
timed at the same points as the Lightning loop's `StepTimer` callback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from bench.common import autocast, now, sync
from graytransfer.callbacks.checkpoint_io import wait_for_checkpoint_writes
from graytransfer.model.classifier import GrayscaleClassifier


class StepRecorder:
    """Timestamps of a training run. Each batch has a start (fetched and on the device) and an
    end (after the optimiser and schedule step); an epoch runs from its start to the next
    epoch's start (or the end of training), so end-of-epoch work (metrics, checkpoints, logger
    flushes) counts in the epoch's wall time. Each stamp also records the process's CPU time
    (`time.process_time`, all its threads): on a loaded machine a step's CPU time barely moves
    when other jobs take turns on the cores, its wall time does (`cpu_cycles`, `cpu_epochs`)."""

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self.epochs: list[dict[str, Any]] = []

    def epoch_start(self) -> None:
        sync(self.device)
        stamp, cpu = now(), time.process_time()
        if self.epochs and self.epochs[-1]["end"] is None:
            self.epochs[-1]["end"] = stamp
            self.epochs[-1]["cpu_end"] = cpu
        self.epochs.append(
            {
                "start": stamp,
                "end": None,
                "cpu_start": cpu,
                "cpu_end": None,
                "batch_starts": [],
                "batch_ends": [],
                "batch_cpu": [],
            }
        )

    def batch_start(self) -> None:
        sync(self.device)
        self.epochs[-1]["batch_starts"].append(now())
        self.epochs[-1]["batch_cpu"].append(time.process_time())

    def batch_end(self) -> None:
        sync(self.device)
        self.epochs[-1]["batch_ends"].append(now())

    def finish(self) -> None:
        """Close the last epoch (call when training ends)."""
        sync(self.device)
        if self.epochs and self.epochs[-1]["end"] is None:
            self.epochs[-1]["end"] = now()
            self.epochs[-1]["cpu_end"] = time.process_time()

    def to_dict(self) -> dict[str, Any]:
        return {"epochs": self.epochs}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StepRecorder:
        recorder = cls()
        recorder.epochs = data["epochs"]
        return recorder

    def steps(self, warmup: int) -> list[float]:
        """Start -> end of each batch (seconds), the first `warmup` batches of the run dropped."""
        times = []
        for ep in self.epochs:
            times += [e - s for s, e in zip(ep["batch_starts"], ep["batch_ends"], strict=False)]
        return times[warmup:]

    def cycles(self, warmup: int) -> list[float]:
        """Start -> next start within an epoch: the whole per-batch cost, fetching and logging
        included; the first `warmup` batches of the run dropped."""
        times = []
        for ep in self.epochs:
            starts = ep["batch_starts"]
            times += [b - a for a, b in zip(starts, starts[1:], strict=False)]
        return times[warmup:]

    def cpu_cycles(self, warmup: int) -> list[float]:
        """`cycles` in process CPU time (empty for a record without CPU stamps)."""
        times = []
        for ep in self.epochs:
            stamps = ep.get("batch_cpu") or []
            times += [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
        return times[warmup:]

    def cpu_epochs(self, skip_first: bool = True) -> list[float]:
        """`epoch_walls` in process CPU time."""
        spans = [ep["cpu_end"] - ep["cpu_start"] for ep in self.epochs if ep.get("cpu_end")]
        return spans[1:] if skip_first and len(spans) > 1 else spans

    def epoch_walls(self, skip_first: bool = True) -> list[float]:
        walls = [ep["end"] - ep["start"] for ep in self.epochs if ep["end"] is not None]
        return walls[1:] if skip_first and len(walls) > 1 else walls

    def batches(self) -> int:
        return sum(len(ep["batch_starts"]) for ep in self.epochs)


class StepTimer(L.Callback):
    """The same `StepRecorder` timestamps taken inside Lightning's loop, written as JSON to `out`
    when fitting ends (so it can be added through the config like any callback). A checkpoint
    written in the background overlaps the next epoch; the last one is waited for before
    training's end is stamped, so it counts in the last epoch's wall time."""

    def __init__(self, out: str, device: str = "cpu") -> None:
        self.out = Path(out)
        self.recorder = StepRecorder(device)

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.recorder.epoch_start()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.recorder.batch_start()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.recorder.batch_end()

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        wait_for_checkpoint_writes(trainer)  # the last epoch's background write counts in it
        self.recorder.finish()
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(self.recorder.to_dict()))


class LightningFloor(L.LightningModule):
    """The least a LightningModule does: the classifier's forward and the cross-entropy in
    `training_step`, the classifier's optimiser and per-step schedule; no `self.log`, no
    metrics, no hooks. Trained by a Trainer with no logger, callbacks (but a `StepTimer`),
    checkpoints or progress bar, it measures Lightning's own per-batch cost: what no change
    to graytransfer's module or callbacks can take away. Takes `loop_settings`' keys; its
    `precision` is the Trainer's to apply, so the module ignores it."""

    def __init__(
        self,
        model: GrayscaleClassifier,
        total_steps: int,
        label_smoothing: float = 0.0,
        loss_weight: torch.Tensor | None = None,
        **_: Any,
    ) -> None:
        super().__init__()
        self.model = model
        self.total_steps = total_steps
        self.label_smoothing = label_smoothing
        self.loss_weight = loss_weight

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        images, labels = batch
        return F.cross_entropy(
            self.model(images),
            labels,
            weight=self.loss_weight,
            label_smoothing=self.label_smoothing,
        )

    def configure_optimizers(self) -> Any:
        optimizer, scheduler = self.model.build_optimizer(self.total_steps)
        if scheduler is None:
            return optimizer
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


#: the class names of a benchmark that feeds a fixed synthetic batch (`synthetic_batch`)
SYNTHETIC_CLASSES = [str(i) for i in range(10)]


def train_bare(
    model: nn.Module,
    batches: Iterable,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    *,
    epochs: int,
    device: str,
    precision: str = "32-true",
    label_smoothing: float = 0.0,
    loss_weight: torch.Tensor | None = None,
    limit_batches: int | None = None,
    recorder: StepRecorder | None = None,
    on_logits: Callable[[torch.Tensor, torch.Tensor], Any] | None = None,
    on_epoch_end: Callable[[], Any] | None = None,
) -> StepRecorder:
    """A hand-written training loop (zero_grad, forward, loss, backward, step, schedule),
    timestamped at the same points as `StepTimer`. `batches` is re-iterated every epoch;
    `on_logits(logits, labels)` runs after the loss (e.g. the module's metric updates) and
    `on_epoch_end()` after each epoch's last batch."""
    recorder = recorder or StepRecorder(device)
    scaler = torch.amp.GradScaler("cuda") if precision == "16-mixed" else None
    model.train()
    for _ in range(epochs):
        recorder.epoch_start()
        for index, (images, labels) in enumerate(batches):
            if limit_batches is not None and index >= limit_batches:
                break
            images = images.to(device, non_blocking=True)
            labels = labels.to(device, non_blocking=True)
            recorder.batch_start()
            optimizer.zero_grad(set_to_none=True)
            with autocast(precision, device):
                logits = model(images)
                loss = F.cross_entropy(
                    logits, labels, weight=loss_weight, label_smoothing=label_smoothing
                )
            if on_logits is not None:
                on_logits(logits, labels)
            if scaler is None:
                loss.backward()
                optimizer.step()
            else:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            if scheduler is not None:
                scheduler.step()
            recorder.batch_end()
        if on_epoch_end is not None:
            on_epoch_end()
    recorder.finish()
    return recorder


def synthetic_batch(
    batch_size: int, size: Sequence[int], num_classes: int = 10
) -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed uint8 (N, 1, H, W) batch and labels (seeded), for compute-only benchmarks."""
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (batch_size, 1, *size), dtype=torch.uint8, generator=generator)
    labels = torch.randint(0, num_classes, (batch_size,), generator=generator)
    return images, labels


def seed_all(seed: int | None) -> None:
    if seed is not None:
        L.seed_everything(seed, workers=True, verbose=False)


def loop_settings(cfg: DictConfig, model: GrayscaleClassifier) -> dict[str, Any]:
    """What `train_bare` takes from the run config and the classifier, as `pipeline.train`
    would train it: precision, label smoothing and the loss class weights."""
    return {
        "precision": str(cfg.trainer.precision),
        "label_smoothing": float(cfg.get("label_smoothing", 0.0)),
        "loss_weight": model.loss_weights,
    }
