"""Freeze the backbone for the first epochs, then train the whole network
(`callbacks/freeze_backbone.yaml`)."""

from __future__ import annotations

import lightning as L
import torch
from lightning.pytorch.callbacks import BaseFinetuning
from torch import nn

from graytransfer.errors import UserError


class FreezeBackbone(BaseFinetuning):
    """Train only the head (and input adapter) for the first `unfreeze_at_epoch` epochs, then
    the whole network.

    While frozen the backbone is a fixed feature extractor: its weights do not move and its
    BatchNorm and dropout are in inference mode (`train_bn=true` keeps them in training mode,
    BatchNorm statistics then adapt to the new data). At `unfreeze_at_epoch` exactly the
    parameters that were trainable before train again, in the optimizer groups they already had
    (see `optimizer_param_groups`), so the LR schedule and layer decay carry on. Resuming past
    that epoch unfreezes at once.

    How weights are held still (`drop_grads`): on one process `requires_grad=False`, which also
    skips their gradient computation. Under DDP (auto: world size > 1) that cannot be undone,
    since DDP only ever synchronises the parameters that required gradients when it wrapped the
    model; there the gradients are computed and synchronised but dropped before each optimizer
    step, so the backbone unfreezes correctly on every rank.
    """

    def __init__(
        self, unfreeze_at_epoch: int = 1, train_bn: bool = False, drop_grads: bool | None = None
    ) -> None:
        super().__init__()
        if int(unfreeze_at_epoch) < 0:
            raise UserError(
                f"callbacks.freeze_backbone.unfreeze_at_epoch: {unfreeze_at_epoch} must be >= 0"
            )
        self.unfreeze_at_epoch = int(unfreeze_at_epoch)
        self.train_bn = train_bn
        self.drop_grads = drop_grads
        self._trainable: list[nn.Parameter] = []
        self.frozen = False

    @staticmethod
    def _backbone(pl_module: L.LightningModule) -> nn.Module:
        backbone = getattr(pl_module, "backbone", None)
        if not isinstance(backbone, nn.Module):
            raise UserError("callbacks.freeze_backbone needs a module with a `backbone`")
        return backbone

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.drop_grads is None:
            self.drop_grads = trainer.world_size > 1
        super().setup(trainer, pl_module, stage)

    def freeze_before_training(self, pl_module: L.LightningModule) -> None:
        if self.unfreeze_at_epoch == 0:
            return
        backbone = self._backbone(pl_module)
        self._trainable = [p for p in backbone.parameters() if p.requires_grad]
        if not self.drop_grads:
            for p in self._trainable:
                p.requires_grad_(False)
        self.frozen = True

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_start(trainer, pl_module)
        if self.frozen and not self.train_bn:
            self._backbone(pl_module).eval()

    def on_before_optimizer_step(
        self, trainer: L.Trainer, pl_module: L.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        if self.frozen and self.drop_grads:
            for p in self._trainable:
                p.grad = None  # optimizers skip parameters without a gradient

    def finetune_function(
        self, pl_module: L.LightningModule, epoch: int, optimizer: torch.optim.Optimizer
    ) -> None:
        if not self.frozen or epoch < self.unfreeze_at_epoch:
            return
        for p in self._trainable:
            p.requires_grad_(True)
        self.frozen = False
        pl_module.train()
        present = {id(p) for group in optimizer.param_groups for p in group["params"]}
        missing = [p for p in self._trainable if id(p) not in present]
        if missing:  # an optimizer built from trainable parameters only: add them now
            optimizer.add_param_group({"params": missing, "lr": optimizer.param_groups[0]["lr"]})
