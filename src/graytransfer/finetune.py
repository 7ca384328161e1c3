"""Fine-tuning controls: layer-wise LR decay, frozen BatchNorm statistics, channels_last,
torch.compile of the backbone (`FineTuning`, the `finetune` config group) and the
freeze-then-unfreeze callback (`FreezeBackbone`, `callbacks/freeze_backbone.yaml`).

EMA of the weights is Lightning's `EMAWeightAveraging` (`EMA`, `callbacks/ema.yaml`), label
smoothing the top-level `label_smoothing`, mixed precision the Trainer's `precision`
(`bf16-mixed` on GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BaseFinetuning, EMAWeightAveraging
from lightning.pytorch.trainer.states import TrainerFn
from timm.optim import param_groups_layer_decay
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from graytransfer.errors import UserError


@dataclass
class FineTuning:
    """How the classifier's backbone is trained (all off by default).

    - `layer_decay`: timm's layer-wise LR decay; the backbone's layer groups (timm's
      `group_matcher`, stem first) get `lr * layer_decay ** depth_from_top`, the head and the
      input adapter the full `lr`. Biases and norm weights then get no weight decay (timm's rule).
    - `freeze_bn_stats`: the backbone's BatchNorm layers stay in inference mode (running
      statistics used, never updated) while their weights still train, as Keras' fine-tuning
      guide advises for small batches.
    - `channels_last`: backbone weights and inputs in NHWC memory format (faster convs on GPUs
      with tensor cores).
    - `compile`: `torch.compile` the backbone's `forward_features` (first batch is slow);
      `compile_mode`/`compile_backend` go to `torch.compile`.
    """

    layer_decay: float | None = None
    freeze_bn_stats: bool = False
    channels_last: bool = False
    compile: bool = False
    compile_mode: str | None = None
    compile_backend: str = "inductor"

    def __post_init__(self) -> None:
        self._compiled: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {}
        if self.layer_decay is not None and not 0.0 < float(self.layer_decay) <= 1.0:
            raise UserError(
                f"finetune.layer_decay: {self.layer_decay} must be in (0, 1] (e.g. 0.75), "
                "or null for none"
            )

    def prepare(self, backbone: nn.Module) -> None:
        """Apply the build-time options to the adapted backbone (in place)."""
        if self.channels_last:
            backbone.to(memory_format=torch.channels_last)

    def features(self, backbone: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The backbone's feature map of the adapted input, in the chosen memory format and
        through the compiled `forward_features` when `compile` is set (compiled on first use)."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        if not self.compile:
            return backbone.forward_features(x)
        key = id(backbone)
        if key not in self._compiled:
            self._compiled[key] = torch.compile(
                backbone.forward_features, mode=self.compile_mode, backend=self.compile_backend
            )
        return self._compiled[key](x)

    def __getstate__(self) -> dict[str, Any]:
        """Copies (EMA's averaged model, checkpoints) never carry compiled functions."""
        state = dict(self.__dict__)
        state["_compiled"] = {}
        return state

    def apply_train_mode(self, backbone: nn.Module) -> None:
        """Called after every `.train()`: keep BatchNorm in inference mode if asked."""
        if self.freeze_bn_stats:
            for module in backbone.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()


def optimizer_param_groups(
    backbone: nn.Module, rest: list[nn.Module], layer_decay: float | None
) -> list[dict[str, Any]]:
    """Parameter groups for the optimizer, each with an `lr_scale` (applied by
    `apply_lr_scale` once the optimizer exists). Groups without weight decay (biases, norms,
    with `layer_decay`) say `weight_decay: 0.0`; the others take the optimizer's own.

    Every parameter is included, frozen ones too: an optimizer skips parameters without a
    gradient, so a backbone unfrozen later (`FreezeBackbone`) trains under the same groups and
    scheduler. Without `layer_decay` there is one group at scale 1 (the optimizer's own weight
    decay applies to all).
    """
    rest_params = [p for m in rest for p in m.parameters()]
    if layer_decay is None:
        return [{"params": [*backbone.parameters(), *rest_params], "lr_scale": 1.0}]
    with _all_trainable(backbone):
        groups = param_groups_layer_decay(
            backbone,
            weight_decay=1.0,  # a marker: decayed groups drop the key, keep the optimizer's
            no_weight_decay_list=_no_weight_decay(backbone),
            layer_decay=float(layer_decay),
        )
    for group in groups:
        if group["weight_decay"]:
            del group["weight_decay"]
    groups.sort(key=lambda g: g["lr_scale"])
    decay = [p for p in rest_params if p.ndim > 1]
    no_decay = [p for p in rest_params if p.ndim <= 1]
    if decay:
        groups.append({"params": decay, "lr_scale": 1.0})
    if no_decay:
        groups.append({"params": no_decay, "lr_scale": 1.0, "weight_decay": 0.0})
    return groups


def apply_lr_scale(optimizer: torch.optim.Optimizer) -> None:
    """Multiply each group's learning rate by its `lr_scale` (torch optimizers ignore the key;
    timm's schedulers read it, Lightning's schedulers see the scaled `lr` as the base)."""
    for group in optimizer.param_groups:
        group["lr"] = group["lr"] * group.get("lr_scale", 1.0)


def _no_weight_decay(model: nn.Module) -> set[str]:
    names = getattr(model, "no_weight_decay", None)
    return set(names()) if callable(names) else set()


@contextmanager
def _all_trainable(module: nn.Module) -> Iterator[None]:
    """timm's grouping skips frozen parameters; group all of them, then restore the flags."""
    flags = [(p, p.requires_grad) for p in module.parameters()]
    try:
        for p, _ in flags:
            p.requires_grad_(True)
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


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


class EMA(EMAWeightAveraging):
    """Lightning's EMA of the weights, whose averaged weights are also the ones *tested*.

    Lightning saves the average in a checkpoint's `state_dict` (and the raw weights in
    `current_model_state`), validates with the average, but when the same Trainer later tests a
    checkpoint it reloads the raw weights. Outside fitting this callback leaves the checkpoint's
    `state_dict` in place, so the test scores the weights that were validated and selected.
    """

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if trainer.state.fn != TrainerFn.FITTING:
            return
        super().on_load_checkpoint(trainer, pl_module, checkpoint)
