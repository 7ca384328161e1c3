"""Finding and rewriting the first conv (the stem) of a timm model."""

from __future__ import annotations

import torch
from torch import nn

from graytransfer.errors import UserError


def find_stem(model: nn.Module, first_conv: str) -> nn.Conv2d:
    """The conv named by `pretrained_cfg["first_conv"]` (e.g. `conv_stem`, `conv1`,
    `patch_embed.proj`), checked to be a 3-input-channel Conv2d."""
    if not first_conv:
        raise UserError(
            f"{type(model).__name__} names no first conv in its pretrained_cfg, so a strategy "
            "that rewrites the stem cannot apply; use adapt=repeat"
        )
    try:
        conv = model.get_submodule(first_conv)
    except AttributeError as err:
        raise UserError(f"the model has no layer '{first_conv}' (its first_conv)") from err
    if not isinstance(conv, nn.Conv2d):
        raise UserError(
            f"first layer '{first_conv}' is a {type(conv).__name__}, not a Conv2d: a strategy "
            "that rewrites the stem cannot apply; use adapt=repeat"
        )
    return conv


def set_stem_weight(conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None = None) -> None:
    """Replace the stem's kernels (and bias) in place, keeping its padding and stride."""
    conv.weight = nn.Parameter(weight.detach().clone())
    conv.in_channels = weight.shape[1]
    if bias is not None:
        conv.bias = nn.Parameter(bias.detach().clone())
