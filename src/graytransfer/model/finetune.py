"""Fine-tuning controls: layer-wise LR decay, frozen BatchNorm statistics, channels_last,
torch.compile of the backbone (`FineTuning`, the `finetune` config group), and the optimizer's
parameter groups they shape.

The freeze-then-unfreeze schedule and the EMA of the weights are callbacks
(`graytransfer.callbacks.freeze`, `graytransfer.callbacks.ema`), label smoothing the top-level
`label_smoothing`, mixed precision the Trainer's `precision` (`bf16-mixed` on GPU).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
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
