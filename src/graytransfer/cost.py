"""What an adaptation strategy costs: parameters it adds and multiply-accumulates at the input.

Only the input changes between strategies, so the costs are measured there: the input module
(`model.input_adapter`) plus the backbone's first conv (the stem), relative to the plain
3-channel stem the weights were trained with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn


def _conv_macs(conv: nn.Conv2d, output: torch.Tensor) -> int:
    kh, kw = conv.kernel_size
    per_output = (conv.in_channels // conv.groups) * kh * kw
    return int(output[0].numel()) * per_output


def input_cost(model: nn.Module, image_size: Sequence[int]) -> dict[str, Any]:
    """`params` (all), `extra_params` (input module + stem, minus the 3-channel stem: negative when
    the stem shrinks to 1 channel) and `stem_macs` (convs and linears of the input module plus the
    stem, for one image of `image_size`). `model` is a GrayscaleClassifier."""
    from graytransfer.adapt.stem import find_stem

    stem = find_stem(model.backbone, model.data_config.first_conv)
    kh, kw = stem.kernel_size
    rgb_stem = stem.out_channels * 3 // stem.groups * kh * kw  # pretrained stems have no bias
    adapter_params = sum(p.numel() for p in model.input_adapter.parameters())
    extra = adapter_params + sum(p.numel() for p in stem.parameters()) - rgb_stem

    macs = 0

    def count(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += _conv_macs(module, output)
        elif isinstance(module, nn.Linear):
            macs += int(output[0].numel()) * module.in_features

    hooks = [
        m.register_forward_hook(count)
        for m in [*model.input_adapter.modules(), stem]
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    device = next(model.parameters()).device
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            image = torch.zeros(1, 1, *image_size, dtype=torch.uint8, device=device)
            stem(model.input_adapter(image))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "extra_params": int(extra),
        "stem_macs": int(macs),
    }
