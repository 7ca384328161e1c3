"""What an adaptation strategy costs, measured on a run's own model at its own image size.

One set of definitions for `python -m graytransfer.tools.inspect` and every run's record:
`extra_params` are the input module's parameters (what a strategy adds in front of the
backbone), `stem_params` and `stem_macs` those of the backbone's first conv (a 1-channel stem has
a third of both), `input_macs` the input module's own conv/linear MACs; MACs are per image.

`strategy_cost` measures every strategy on one backbone for the `inspect` table (with the whole
backbone's MACs); `input_cost` measures a run's own classifier for its `metrics.json`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, Strategy, adapted_copy
from graytransfer.adapt.stem import find_stem


def input_cost(model: nn.Module, image_size: Sequence[int]) -> dict[str, Any]:
    """`params`, `extra_params`, `stem_params`, `stem_macs`, `input_macs` of a GrayscaleClassifier
    for one uint8 image of `image_size` (H, W)."""
    stem = find_stem(model.backbone, model.data_config.first_conv)
    device = next(model.parameters()).device
    image = torch.zeros(1, 1, *image_size, dtype=torch.uint8, device=device)
    was_training = model.training
    model.eval()
    try:
        macs = count_macs(
            {"input": model.input_adapter, "stem": stem},
            lambda: stem(model.input_adapter(image)),
        )
    finally:
        model.train(was_training)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "extra_params": sum(p.numel() for p in model.input_adapter.parameters()),
        "stem_params": sum(p.numel() for p in stem.parameters()),
        "stem_macs": int(macs["stem"]),
        "input_macs": int(macs["input"]),
    }


@dataclass
class Cost:
    strategy: str
    extra_params: int
    stem_params: int
    stem_macs: int
    input_macs: int
    total_macs: int
    bytes_per_image: int
    channels_seen: int


def count_macs(modules: dict[str, nn.Module], run: Callable[[], torch.Tensor]) -> dict[str, int]:
    """Conv2d/Linear multiply-accumulates per image of each module tree in `modules`."""
    totals = dict.fromkeys(modules, 0)
    handles = []
    for key, root in modules.items():
        for m in root.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):

                def count(mod, inputs, out, key=key) -> None:
                    per_sample = out[0].numel()
                    if isinstance(mod, nn.Conv2d):
                        kh, kw = mod.kernel_size
                        totals[key] += per_sample * mod.in_channels // mod.groups * kh * kw
                    else:
                        totals[key] += per_sample * mod.in_features

                handles.append(m.register_forward_hook(count))
    try:
        with torch.no_grad():
            run()
    finally:
        for handle in handles:
            handle.remove()
    return totals


def strategy_cost(
    name: str, strategy: Strategy, net: nn.Module, dc: BackboneDataConfig, size: tuple[int, int]
) -> Cost:
    input_module, model = adapted_copy(net, strategy, dc, torch.float32)
    image = torch.zeros(1, 1, *size, dtype=torch.uint8)
    stem = find_stem(model, dc.first_conv) if dc.first_conv else None
    parts = {"input": input_module, "backbone": model}
    if stem is not None:
        parts["stem"] = stem
    shapes = {}

    def remember(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        shapes["out"] = output.shape

    hook = input_module.register_forward_hook(remember)
    macs = count_macs(parts, lambda: model.forward_features(input_module(image)))
    hook.remove()
    return Cost(
        strategy=name,
        extra_params=sum(p.numel() for p in input_module.parameters()),
        stem_params=sum(p.numel() for p in stem.parameters()) if stem is not None else 0,
        stem_macs=macs.get("stem", 0),
        input_macs=macs["input"],
        total_macs=macs["input"] + macs["backbone"],
        bytes_per_image=image.numel() * image.element_size(),
        channels_seen=int(shapes["out"][1]),
    )


def format_costs(costs: Sequence[Cost], size: tuple[int, int]) -> str:
    lines = [
        f"{'strategy':<10}{'backbone sees':>14}{'extra params':>14}{'stem params':>13}"
        f"{'stem MACs':>13}{'model MACs':>15}{'stem share':>12}{'bytes/image':>13}",
        "=" * 104,
    ]
    for c in costs:
        share = c.stem_macs / c.total_macs if c.total_macs else 0.0
        lines.append(
            f"{c.strategy:<10}{f'{c.channels_seen} ch':>14}{c.extra_params:>14,}"
            f"{c.stem_params:>13,}{c.stem_macs:>13,}{c.total_macs:>15,}{share:>12.2%}"
            f"{c.bytes_per_image:>13,}"
        )
    h, w = size
    by_name = {c.strategy: c for c in costs}
    if "repeat" in by_name and "sum" in by_name and by_name["repeat"].total_macs:
        saved = by_name["repeat"].total_macs - by_name["sum"].total_macs
        lines.append(
            f"A 1-channel stem saves {saved:,} MACs per image "
            f"({saved / by_name['repeat'].total_macs:.2%} of the 3-channel model)."
        )
    lines += [
        "model MACs: conv and linear layers of the input module and the backbone features (no",
        f"head), one {h}x{w} image. bytes/image: the loader's uint8 1-channel tensor, for every",
        f"strategy; a loader expanding to 3-channel float32 on the CPU would move {12 * h * w:,}.",
    ]
    return "\n".join(lines)
