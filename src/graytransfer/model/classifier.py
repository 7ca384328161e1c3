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
import torch.nn.functional as F
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import MulticlassAccuracy, MulticlassAUROC, MulticlassF1Score

from graytransfer.adapt.base import BackboneDataConfig, Strategy
from graytransfer.model.backbone import Backbone
from graytransfer.model.finetune import FineTuning, apply_lr_scale, optimizer_param_groups
from graytransfer.model.head import ClassifierHead

OptimizerFactory = Callable[..., torch.optim.Optimizer]
SchedulerFactory = Callable[..., torch.optim.lr_scheduler.LRScheduler]


def classification_metrics(num_classes: int, prefix: str) -> MetricCollection:
    """Accuracy (micro), macro F1 and macro AUROC, named `{prefix}acc`, `{prefix}f1`, ..."""
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes=num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes=num_classes, average="macro"),
            "auroc": MulticlassAUROC(num_classes=num_classes, average="macro"),
        },
        prefix=prefix,
    )


class GrayscaleClassifier(L.LightningModule):
    """Classifies single-channel uint8 images (N, 1, H, W) with an ImageNet-pretrained backbone.

    `backbone` builds the pretrained 3-channel timm model; `adapt` bridges 1 channel to it (and may
    patch its stem); `head` is a partial `ClassifierHead` completed with the feature width and the
    class count; `optimizer`/`scheduler` are partials completed in `configure_optimizers`.
    `image_size` is the (H, W) it is trained at, recorded in every checkpoint.
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
    ) -> None:
        super().__init__()
        self.save_hyperparameters(
            "num_classes", "class_names", "label_smoothing", "config", "image_size", logger=False
        )
        net = backbone.build()
        self.data_config: BackboneDataConfig = backbone.data_config(net)
        self.input_adapter = adapt.adapt(net, self.data_config)
        self.backbone = net
        self.finetune = finetune or FineTuning()
        self.finetune.prepare(net)
        self.head = head(num_features=net.num_features, num_classes=num_classes)
        self.strategy_name = adapt.name
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.train_metrics = classification_metrics(num_classes, "train/")
        self.val_metrics = classification_metrics(num_classes, "val/")
        self.test_metrics = classification_metrics(num_classes, "test/")
        # val/test loss as a torchmetrics mean: exact across DDP ranks holding different numbers
        # of images (Lightning's own synced mean rounds the averaged image count to an integer)
        self.eval_losses = nn.ModuleDict({"val": MeanMetric(), "test": MeanMetric()})
        # per-class weights of the training loss (data.balance=loss); val/test losses stay plain
        weights = None if class_weights is None else torch.tensor(class_weights, dtype=torch.float)
        self.register_buffer("loss_weights", weights, persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (N, 1, H, W) -> logits (N, num_classes)."""
        return self.head(self.finetune.features(self.backbone, self.input_adapter(images)))

    def train(self, mode: bool = True) -> GrayscaleClassifier:
        """`.train()` that keeps the backbone's BatchNorm frozen when `finetune` asks for it."""
        super().train(mode)
        if mode:
            self.finetune.apply_train_mode(self.backbone)
        return self

    def _step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str, metrics: nn.Module):
        images, labels = batch
        logits = self(images)
        weight = self.loss_weights if stage == "train" else None
        loss = F.cross_entropy(
            logits, labels, weight=weight, label_smoothing=self.hparams.label_smoothing
        )
        metrics.update(logits.detach().softmax(dim=-1), labels)  # no autograd graph
        if stage in self.eval_losses:
            self.eval_losses[stage].update(loss.detach(), weight=labels.shape[0])
            return loss
        self.log(
            f"{stage}/loss",
            loss,
            on_step=True,
            on_epoch=True,
            prog_bar=True,
            batch_size=labels.shape[0],
        )
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.train_metrics)

    def validation_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "val", self.val_metrics)

    def test_step(self, batch, batch_idx: int) -> None:
        self._step(batch, "test", self.test_metrics)

    def _log_epoch(self, metrics: MetricCollection) -> None:
        values = metrics.compute()  # torchmetrics syncs across DDP ranks itself
        stage = str(metrics.prefix).rstrip("/")
        if stage in self.eval_losses:
            values[f"{stage}/loss"] = self.eval_losses[stage].compute()
            self.eval_losses[stage].reset()
        self.log_dict(values, prog_bar=True, sync_dist=True)
        metrics.reset()

    def on_train_epoch_end(self) -> None:
        self._log_epoch(self.train_metrics)

    def on_validation_epoch_end(self) -> None:
        self._log_epoch(self.val_metrics)

    def on_test_epoch_end(self) -> None:
        self._log_epoch(self.test_metrics)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        images = batch[0] if isinstance(batch, (tuple, list)) else batch
        return self(images).softmax(dim=-1)

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
