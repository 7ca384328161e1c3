"""`python -m graytransfer.tools.inspect [overrides] [--out DIR] [--layers N]`: why a 3-channel
backbone works on grayscale, shown on the model and strategy a training run would use.

Composed from the same Hydra tree as train.py (`model=b5 adapt=keras data.image_size=[128,128]`).
For a 1-channel input it prints: the first layers with their output shapes and where the channel
count goes from 1 to 3; the exact equivalences between strategies, measured; what each strategy
costs (extra and stem parameters, stem and whole-backbone MACs, bytes per image from loader to
device); and it saves PNGs of what the backbone sees for the strategies that make 3 channels.
At full depth (`data.bit_depth=16 intensity=...`) it first shows the raw values, the mapping,
the windows and how many distinct levels reach the stem (8-bit path vs full depth), then the
rest on the mapped images rounded to 8 bits.
Works offline: hub weights that are not cached are replaced by random init, with a note.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from graytransfer.cli import exit_on_user_error
from graytransfer.config import compose, conf_dir
from graytransfer.errors import UserError

if TYPE_CHECKING:  # torch and timm load in `inspect`, after the config is composed
    import torch
    from torch import nn

    from graytransfer.adapt.base import Strategy
    from graytransfer.adapt.intensity import InputValues
    from graytransfer.model.backbone import Backbone


def norm_types() -> tuple[type, ...]:
    """The normalisation layers `layer_rows` lists as one layer each."""
    from torch import nn

    return (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


# --------------------------------------------------------------------------- the model
def build_backbone(cfg: DictConfig) -> tuple[Backbone, nn.Module, str | None]:
    """The configured backbone, built; random init (and a note) when its weights are missing."""
    backbone: Backbone = instantiate(cfg.model)
    note = None
    try:
        backbone.check_weights_available()
    except UserError as err:
        note = f"{err} -> inspecting with random init (model.pretrained=false) instead"
        backbone = instantiate(cfg.model, pretrained=False)
    return backbone, backbone.build().eval(), note


def sample_images(
    cfg: DictConfig, size: tuple[int, int], count: int
) -> tuple[torch.Tensor, str, InputValues]:
    """`count` (1, H, W) images of the configured data (uint8, or uint16 / int16 at full depth)
    and what the data hands the model, else a synthetic uint8 test card."""
    import torch

    from graytransfer.adapt.intensity import InputValues
    from graytransfer.model.build import input_values_of

    try:
        data = instantiate(cfg.data, image_size=list(size), seed=0)
        data.prepare_data()
        data.setup("fit")
        items = [data.train_set[i] for i in range(min(count, len(data.train_set)))]
        images = torch.stack([item[0] for item in items])
        return images, f"the first {len(items)} training images", input_values_of(data)
    except Exception as err:  # noqa: BLE001 - any data problem: explain with a test card
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        card = f"a synthetic test card (data unavailable: {reason})"
        return test_card(size, count), card, InputValues()


def test_card(size: tuple[int, int], count: int) -> torch.Tensor:
    """Gradients, a disc and stripes: every gray level, hard edges and texture."""
    import torch

    h, w = size
    y = torch.linspace(0, 1, h).view(h, 1)
    x = torch.linspace(0, 1, w).view(1, w)
    cards = []
    for i in range(count):
        ramp = (x * (1 - i / max(count, 1)) + y * i / max(count, 1)).expand(h, w)
        disc = ((x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.08).float()
        stripes = (torch.sin(x * (6 + 4 * i) * torch.pi) > 0).float() * (y > 0.75).float()
        cards.append((0.6 * ramp + 0.3 * disc + 0.25 * stripes).clamp(0, 1))
    return (torch.stack(cards).unsqueeze(1) * 255).round().to(torch.uint8)


# --------------------------------------------------------------------------- the layers
@dataclass
class LayerRow:
    name: str
    kind: str
    in_channels: int | None
    shape: tuple[int, ...]
    params: int


def is_leaf(module: nn.Module) -> bool:
    return (
        not list(module.children()) or isinstance(module, norm_types()) or hasattr(module, "conv")
    )


def layer_rows(input_module: nn.Module, net: nn.Module, image: torch.Tensor) -> list[LayerRow]:
    """The input module and the backbone's leaf layers in the order they run, with shapes."""
    import torch

    rows: list[LayerRow] = []

    def hook(name: str) -> Callable:
        def record(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
            if not isinstance(output, torch.Tensor):
                return
            first = inputs[0] if inputs and isinstance(inputs[0], torch.Tensor) else None
            channels = first.shape[1] if first is not None and first.ndim == 4 else None
            params = sum(p.numel() for p in module.parameters())
            rows.append(
                LayerRow(name, type(module).__name__, channels, tuple(output.shape), params)
            )

        return record

    handles = [input_module.register_forward_hook(hook("input_adapter"))]
    stack = list(net.named_children())
    while stack:
        name, module = stack.pop(0)
        if is_leaf(module):
            handles.append(module.register_forward_hook(hook(name)))
        else:
            stack[:0] = [(f"{name}.{n}", m) for n, m in module.named_children()]
    try:
        with torch.no_grad():
            net.forward_features(input_module(image))
    finally:
        for handle in handles:
            handle.remove()
    return rows


def widening_layer(rows: Sequence[LayerRow]) -> LayerRow | None:
    """The first layer that turns a 1-channel image into 3 channels (None: it never happens)."""
    for row in rows:
        if row.in_channels == 1 and len(row.shape) == 4 and row.shape[1] == 3:
            return row
    return None


def format_layers(rows: Sequence[LayerRow], image: torch.Tensor, limit: int) -> str:
    lines = [f"{'Layer (type)':<44}{'Output shape':<22}{'Param #':>10}", "=" * 76]
    lines.append(f"{'input (uint8 gray)':<44}{str(tuple(image.shape)):<22}{0:>10,}")
    widen = widening_layer(rows)
    for row in rows[:limit]:
        mark = "   <- 1 -> 3 channels" if row is widen else ""
        label = f"{row.name} ({row.kind})"
        lines.append(f"{label:<44}{str(row.shape):<22}{row.params:>10,}{mark}")
    if len(rows) > limit:
        lines.append(f"... {len(rows) - limit} more layers")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def all_strategies() -> dict[str, Strategy]:
    """Every strategy of `conf/adapt/`, built from its YAML file."""
    return {
        p.stem: instantiate(OmegaConf.load(p))
        for p in sorted((conf_dir() / "adapt").glob("*.yaml"))
    }


def inspect(overrides: Sequence[str], out: Path | None = None, layers: int = 12) -> dict:
    """Print the explanation for the composed config; return its parts (for tests). A config
    that does not compose stops it in one line before torch is imported."""
    cfg = compose(overrides)
    import torch

    from graytransfer.adapt.base import adapted_copy
    from graytransfer.adapt.cost import format_costs, strategy_cost
    from graytransfer.adapt.equivalence import equivalence_checks, format_checks
    from graytransfer.adapt.preview import render_preview
    from graytransfer.model.build import resolve_image_size
    from graytransfer.tools.depth_report import full_depth_section

    torch.manual_seed(0)
    backbone, net, note = build_backbone(cfg)
    dc = backbone.data_config(net)
    size = resolve_image_size(cfg, backbone)
    chosen: Strategy = instantiate(cfg.adapt)
    images, source, values = sample_images(cfg, size, 4)
    weights = "random init" if not backbone.pretrained else (backbone.weights or "hub")
    print(f"graytransfer inspect: {backbone.timm_name} ({weights}), adapt={chosen.name}, "
          f"input 1x{size[0]}x{size[1]} uint8")  # fmt: skip
    if note:
        print(f"note: {note}")
    print(f"weights' normalisation: mean {dc.mean}, std {dc.std}; stem '{dc.first_conv}'")
    print(f"images: {source}\n")
    if images.dtype != torch.uint8:
        intensity = instantiate(cfg.intensity) if cfg.get("intensity") else None
        scale16 = str(cfg.data.get("scale16", "full"))
        text, images = full_depth_section(intensity, chosen, net, dc, images, scale16, values)
        print(f"Full depth:\n{text}\n(below: the mapped images, rounded to 8 bits)\n")

    input_module, model = adapted_copy(net, chosen, dc, torch.float32)
    rows = layer_rows(input_module, model, images[:1])
    print(f"The first layers under adapt={chosen.name}:")
    print(format_layers(rows, images[:1], layers))
    widen = widening_layer(rows)
    if widen is None:
        print("The channel count never goes from 1 to 3: the stem itself takes the gray image.\n")
    else:
        print(f"Channels go from 1 to 3 at '{widen.name}' ({widen.kind}), before the stem.\n")

    checks = equivalence_checks(backbone.timm_name, backbone.create_kwargs, net, dc, images)
    if checks:
        print("Equivalences, measured (max abs difference):")
        print(format_checks(checks) + "\n")

    strategies = all_strategies()
    costs = [strategy_cost(n, s, net, dc, size) for n, s in strategies.items()]
    print(f"What each strategy costs at {size[0]}x{size[1]}:")
    print(format_costs(costs, size) + "\n")

    out = out or Path("outputs") / "inspect" / f"{backbone.name}_{size[0]}x{size[1]}"
    saved = []
    for name, strategy in strategies.items():
        input_module, adapted = adapted_copy(net, strategy, dc, torch.float32)
        path = out / f"{name}.png"
        render_preview(input_module, images, dc.mean, dc.std, path, adapted, dc.first_conv)
        saved.append(path)
    print(
        f"What the backbone sees (input | R, G, B channels and as RGB, or the stem's input | the "
        f"stem's first feature maps): {len(saved)} PNGs in {out}/"
    )
    print("  " + ", ".join(p.name for p in saved))
    return {"rows": rows, "checks": checks, "costs": costs, "saved": saved, "size": size}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graytransfer.tools.inspect",
        description="Why a 3-channel backbone works on grayscale, for the composed config.",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    parser.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    parser.add_argument("--layers", type=int, default=12, help="how many layers to list")
    args = parser.parse_args(argv)
    exit_on_user_error(lambda: inspect(args.overrides, out=args.out, layers=args.layers))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
