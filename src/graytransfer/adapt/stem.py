"""Finding, running and rewriting the first conv (the stem) of a timm model."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import Conv2dSame
from timm.layers.padding import pad_same
from torch import nn

from graytransfer.errors import UserError


class StemWrapper(nn.Module):
    """A module that replaced the stem conv and keeps it as `self.conv` (e.g. the folded stem)."""

    conv: nn.Conv2d


def find_stem(model: nn.Module, first_conv: str) -> nn.Conv2d:
    """The conv named by `pretrained_cfg["first_conv"]` (e.g. `conv_stem`, `conv1`,
    `patch_embed.proj`), looking inside a `StemWrapper` a strategy may have put there."""
    if not first_conv:
        raise UserError(
            f"{type(model).__name__} names no first conv in its pretrained_cfg, so a strategy "
            "that rewrites the stem cannot apply; use adapt=repeat"
        )
    try:
        conv = model.get_submodule(first_conv)
    except AttributeError as err:
        raise UserError(f"the model has no layer '{first_conv}' (its first_conv)") from err
    if isinstance(conv, StemWrapper):
        conv = conv.conv
    if not isinstance(conv, nn.Conv2d):
        raise UserError(
            f"first layer '{first_conv}' is a {type(conv).__name__}, not a Conv2d: a strategy "
            "that rewrites the stem cannot apply; use adapt=repeat"
        )
    return conv


def find_rgb_stem(model: nn.Module, first_conv: str) -> nn.Conv2d:
    """`find_stem`, checked to be an unwrapped, ungrouped Conv2d taking 3 channels: the
    pretrained stem a strategy may rewrite."""
    conv = find_stem(model, first_conv)
    wrapped = model.get_submodule(first_conv) is not conv
    if wrapped or conv.in_channels != 3 or conv.groups != 1:
        raise UserError(
            f"first layer '{first_conv}' takes {conv.in_channels} channels in {conv.groups} "
            "group(s), not 3 RGB channels in one (already adapted?): a strategy that rewrites "
            "the stem cannot apply; use adapt=repeat"
        )
    return conv


def set_stem_weight(
    conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> None:
    """Replace the stem's kernels (and bias) in place, keeping its padding and stride."""
    conv.weight = nn.Parameter(weight.detach().clone())
    conv.in_channels = weight.shape[1]
    if bias is not None:
        conv.bias = nn.Parameter(bias.detach().clone())


def stem_conv(
    conv: nn.Conv2d, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Run `conv`'s geometry (stride, dilation, padding mode, and timm's dynamic TF 'same'
    padding for `Conv2dSame`) with another `weight`/`bias`."""
    check_reproducible(conv)
    if isinstance(conv, Conv2dSame):
        x = pad_same(x, weight.shape[-2:], conv.stride, conv.dilation)
        return F.conv2d(x, weight, bias, conv.stride, 0, conv.dilation, conv.groups)
    return conv._conv_forward(x, weight, bias)


def check_reproducible(conv: nn.Conv2d) -> None:
    """A plain `nn.Conv2d` (any padding mode) or timm's `Conv2dSame`; anything with its own
    forward (weight standardisation, export-time static padding) is refused."""
    if isinstance(conv, Conv2dSame) or type(conv).forward is nn.Conv2d.forward:
        return
    raise UserError(
        f"the stem is a {type(conv).__name__} with its own forward, which the fold cannot "
        "reproduce; use adapt=keras (the same function with a 3-channel stem)"
    )


def replace_module(model: nn.Module, name: str, module: nn.Module) -> None:
    """Put `module` at the dotted path `name` inside `model`."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)
