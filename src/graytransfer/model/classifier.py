"""GrayscaleClassifier: input adapter + pretrained timm backbone + head, as a LightningModule.

The module holds the science (what is computed and measured); the Trainer holds the engineering
(devices, precision, distribution). Nothing here knows about ranks or devices.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import lightning as L
import torch
from torch import nn
from torchmetrics import MeanMetric

from graytransfer.adapt.base import BackboneDataConfig, Strategy
from graytransfer.adapt.intensity import InputValues, IntensityMapping
from graytransfer.adapt.mapped import input_module
from graytransfer.model.backbone import Backbone
from graytransfer.model.finetune import FineTuning, apply_lr_scale, optimizer_param_groups
from graytransfer.model.head import ClassifierHead
from graytransfer.task import MulticlassTask, Task

#: the stages whose batches are buffered and scored at their epoch's end
STAGES = ("train", "val", "test")


def loss_key(stage: str) -> str:
    """The key of `stage`'s loss mean in `stage_losses` (a ModuleDict refuses `train`)."""
    return f"{stage}_loss"


OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


class GrayscaleClassifier(L.LightningModule):
    """Classifies single-channel uint8 images (N, 1, H, W) with an ImageNet-pretrained backbone.

    `backbone` builds the pretrained 3-channel timm model; `adapt` bridges 1 channel to it (and may
    patch its stem); `head` is a partial `ClassifierHead` completed with the feature width and the
    class count; `optimizer`/`scheduler` are partials completed in `configure_optimizers`.
    `intensity` maps full-depth (uint16 / int16) input onto 0..255 before the strategy, built for
    the data's `input_values` (None: rebuilt from a checkpoint, whose buffers hold them).
    `image_size` is the (H, W) it is trained at, recorded in every checkpoint. `task` (default
    multiclass) owns the head's width, the loss, the probabilities and the metrics
    (`graytransfer.task`); a thresholded task (multilabel, binary) keeps its decision thresholds,
    chosen on each validation epoch, in the `thresholds` buffer, so the best checkpoint holds
    those of its own epoch and test, predict and export apply exactly them.
    Hyper-parameters saved in checkpoints are plain values (the run config, classes), never the
    networks themselves.
    """

    def __init__(
        self,
        backbone: Backbone,
        adapt: Strategy,
        head: Callable[..., ClassifierHead],
        optimizer: OptimizerFactory,
        num_classes: int,
        scheduler: SchedulerFactory | None = None,
        class_names: list[str] | None = None,
        label_smoothing: float = 0.0,
        config: dict[str, Any] | None = None,
        finetune: FineTuning | None = None,
        class_weights: list[float] | None = None,
        image_size: tuple[int, int] | None = None,
        task: Task | None = None,
        intensity: IntensityMapping | None = None,
        input_values: InputValues | None = None,
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            "num_classes", "class_names", "label_smoothing", "config", "image_size", logger=False
        )
        net = backbone.build()
        self.data_config: BackboneDataConfig = backbone.data_config(net)
        # full depth: the intensity mapping runs first (graytransfer.adapt.mapped)
        self.input_adapter = input_module(adapt, net, self.data_config, intensity, input_values)
        self.backbone = net
        self.finetune = finetune or FineTuning()
        self.finetune.prepare(net)
        self.task = task or MulticlassTask()
        outputs = self.task.outputs(num_classes)
        self.head = head(num_features=net.num_features, num_classes=outputs)
        self.strategy_name = adapt.name
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        names = list(class_names or [str(i) for i in range(num_classes)])
        self.train_metrics = self.task.metrics(names, "train/")
        self.val_metrics = self.task.metrics(names, "val/")
        self.test_metrics = self.task.metrics(names, "test/")
        self.output_names = self.task.output_names(names)
        # decision thresholds of a thresholded task: saved in every checkpoint (state_dict);
        # multiclass has none, so its checkpoints (old ones too) load as before
        start = torch.full((outputs,), self.task.fixed) if self.task.thresholded else None
        self.register_buffer("thresholds", start)
        # the calibration fitted on val after training (graytransfer.run.calibrate): logits *
        # scale + bias per output, identity until then; saved in every checkpoint like the
        # thresholds (a checkpoint without it loads as identity: `_load_from_state_dict`)
        self.register_buffer("calibration_scale", torch.ones(outputs))
        self.register_buffer("calibration_bias", torch.zeros(outputs))
        # each stage's epoch loss as a torchmetrics mean, fed once an epoch (`_update_metrics`):
        # exact across DDP ranks holding different numbers of images (Lightning's own synced
        # mean rounds the averaged image count to an integer)
        self.stage_losses = nn.ModuleDict({loss_key(stage): MeanMetric() for stage in STAGES})
        # per-class weights of the training loss (data.balance=loss); val/test losses stay plain
        weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float)
        self.register_buffer("loss_weights", weights, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 1, H, W) -> logits (N, outputs): one per class, label, or 1 for binary
        (through the stored calibration: `calibrated`)."""
        return self.calibrated(
            self.head(self.finetune.features(self.backbone, self.input_adapter(images)))
        )

    def calibrated(self, logits: torch.Tensor) -> torch.Tensor:
        """`logits * calibration_scale + calibration_bias`: the identity until a calibration
        is fitted (`calibration=temperature`), so every path (test, predict, export) uses it."""
        return logits * self.calibration_scale + self.calibration_bias

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        """A checkpoint written before calibration existed loads as the identity map."""
        for name in ("calibration_scale", "calibration_bias"):
            if prefix + name not in state_dict:
                fill = torch.ones_like if name == "calibration_scale" else torch.zeros_like
                state_dict[prefix + name] = fill(getattr(self, name))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def on_train_start(self) -> None:
        """Training changes the weights a calibration was fitted on: back to the identity."""
        self.calibration_scale.fill_(1.0)
        self.calibration_bias.zero_()

    def train(self, mode: bool = True) -> GrayscaleClassifier:
        """`.train()` that keeps the backbone's BatchNorm frozen when `finetune` asks for it."""
        super().train(mode)
        if mode:
            self.finetune.apply_train_mode(self.backbone)
        return self

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str):
        images, labels = batch
        logits = self(images)
        weight = self.loss_weights if stage == "train" else None
        loss = self.task.loss(logits, labels, weight, self.hparams.label_smoothing)
        probs = self.task.probabilities(logits.detach())
        self._epoch_outputs.setdefault(stage, []).append((probs, labels, loss.detach()))
        if stage == "train" and self._writes_step_metrics():
            self.log("train/loss_step", loss, prog_bar=True, batch_size=labels.shape[0])
        return loss, probs

    def _writes_step_metrics(self) -> bool:
        """Whether the loggers write this training step's values: every
        `trainer.log_every_n_steps`-th optimiser step (Lightning's own rule, on the public
        `global_step`), every step of a `fast_dev_run`, and the epoch's last batch (so the
        progress bar ends on the epoch's last loss). Lightning's `self.log` costs about 0.7 ms
        a call at a GPU-sized step (docs/benchmarks.md), so the other steps skip it."""
        trainer = self._trainer
        if trainer is None:
            return False
        every = trainer.log_every_n_steps
        if trainer.fast_dev_run or trainer.is_last_batch:
            return True
        return every > 0 and (self.global_step + 1) % every == 0

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> torch.Tensor:
        """The batch's probabilities: `graytransfer.evaluation.collect.TestPredictions` keeps
        them for `predictions.csv` and the test metrics' intervals."""
        return self._step(batch, "test")[1]

    @property
    def _epoch_outputs(self) -> dict[str, list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]]:
        """stage -> the (probabilities, labels, loss) of each of this epoch's batches, detached
        and on the device: the stage's metrics and loss mean take them in one update at the
        epoch's end, not one per step (torchmetrics' per-call cost was ~0.5 ms a training step
        at a GPU-sized step, docs/benchmarks.md; the values are the same, every metric state
        being a sum or a concatenation; the AUROC and score states kept every probability of
        the epoch already, so the buffer adds no new kind of memory). Made on first use, so the
        fold ensemble, which skips this class's __init__, has it too."""
        return self.__dict__.setdefault("_outputs_of_epoch", {})

    def _update_metrics(self, stage: str, metrics: nn.Module) -> bool:
        """Feed `stage`'s buffered batches to its metrics and its loss mean (one update each,
        the loss weighted by batch size), empty the buffer; whether it held any batch."""
        outputs = self._epoch_outputs.pop(stage, [])
        if not outputs:
            return False
        probs, labels, losses = zip(*outputs, strict=True)
        self.task.update(metrics, torch.cat(probs), torch.cat(labels))
        sizes = torch.tensor([len(batch) for batch in labels], device=losses[0].device)
        self.stage_losses[loss_key(stage)].update(torch.stack(losses), weight=sizes)
        return True

    def _log_epoch(self, metrics: nn.Module) -> None:
        stage = str(metrics.prefix).rstrip("/")
        fed = self._update_metrics(stage, metrics)
        # torchmetrics syncs across DDP ranks itself; validation chooses the thresholds
        values, chosen = self.task.compute(metrics, self.thresholds, choose=stage == "val")
        if chosen is not None:
            self.thresholds.copy_(chosen.to(self.thresholds.device))
        loss = self.stage_losses[loss_key(stage)]
        if stage != "train":  # every rank computes: DDP ranks may hold different batch counts
            values[f"{stage}/loss"] = loss.compute()
        elif fed:  # the names `self.log(on_step=True, on_epoch=True)` gave the training loss
            values["train/loss_epoch"] = loss.compute()
            self.log("train/loss", values["train/loss_epoch"], logger=False, sync_dist=True)
        loss.reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        metrics.reset()

    def on_train_epoch_start(self) -> None:
        self._epoch_outputs.pop("train", None)  # what an interrupted epoch left

    def on_validation_epoch_start(self) -> None:
        self._epoch_outputs.pop("val", None)

    def on_test_epoch_start(self) -> None:
        self._epoch_outputs.pop("test", None)

    def on_train_epoch_end(self) -> None:
        self._log_epoch(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self.task.probabilities(self(images))

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Every checkpoint says how to use it without the run's config files: the strategy, the
        class names, the data config of the weights and the image size the model was trained at
        (the resolved run config is in `hyper_parameters.config`)."""
        size = self.hparams.image_size
        checkpoint["graytransfer"] = {
            "strategy": self.strategy_name,
            "class_names": list(self.hparams.class_names or []),
            "image_size": list(size) if size is not None else None,
            "data_config": dataclasses.asdict(self.data_config),
            "task": self.task.name,
            "outputs": list(self.output_names),
            "thresholds": None if self.thresholds is None else self.thresholds.tolist(),
            "calibration": {
                "scale": self.calibration_scale.tolist(),
                "bias": self.calibration_bias.tolist(),
            },
        }

    def build_optimizer(self, total_steps: int) -> tuple[torch.optim.Optimizer, Any]:
        """The optimizer over every parameter and its per-step schedule (None without one).

        Frozen parameters are included too (skipped while they have no gradient), so a backbone
        unfrozen later trains under the same groups and schedule; layer decay scales the lr."""
        groups = optimizer_param_groups(
            self.backbone,
            [m for name, m in self.named_children() if name != "backbone"],
            self.finetune.layer_decay,
        )
        optimizer = self.optimizer_factory(params=groups)
        apply_lr_scale(optimizer)
        if self.scheduler_factory is None:
            return optimizer, None
        return optimizer, self.scheduler_factory(optimizer=optimizer, total_steps=total_steps)

    def configure_optimizers(self) -> dict[str, Any]:
        # the schedule's length is the Trainer's; without a schedule no Trainer is needed
        total = self.trainer.estimated_stepping_batches if self.scheduler_factory else 0
        optimizer, scheduler = self.build_optimizer(int(total))
        if scheduler is None:
            return {"optimizer": optimizer}
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }
