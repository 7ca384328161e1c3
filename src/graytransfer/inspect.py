"""`python -m graytransfer.inspect [overrides] [--out DIR] [--layers N]`: why a 3-channel
backbone works on grayscale, shown on the model and strategy a training run would use.

Composed from the same Hydra tree as train.py (`model=b5 adapt=keras data.image_size=[128,128]`).
For a 1-channel input it prints: the first layers with their output shapes and where the channel
count goes from 1 to 3; the exact equivalences between strategies, measured; what each strategy
costs (extra and stem parameters, stem and whole-backbone MACs, bytes per image from loader to
device); and it saves PNGs of what the backbone sees for the strategies that make 3 channels.
Works offline: hub weights that are not cached are replaced by random init, with a note.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import timm
import torch
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import HydraException, InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from timm.models import adapt_input_conv
from torch import nn

from graytransfer.adapt import Adapter, Fold, Keras, Repeat, Strategy, Sum
from graytransfer.adapt.base import gray_mean_std
from graytransfer.adapt.stem import find_stem
from graytransfer.backbone import Backbone, BackboneDataConfig
from graytransfer.cli import user_error_in
from graytransfer.data.base import NATIVE, as_size
from graytransfer.errors import UserError
from graytransfer.preview import render_preview

CONF = Path(__file__).resolve().parents[2] / "conf"
BN_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm)


# --------------------------------------------------------------------------- composition
def compose_config(overrides: Sequence[str], conf_dir: Path = CONF) -> DictConfig:
    """conf/train.yaml with `overrides`, exactly as train.py would compose it."""
    if not (conf_dir / "train.yaml").is_file():
        raise UserError(f"no Hydra config at {conf_dir}; run from a graytransfer checkout")
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(conf_dir), version_base="1.3"):
            return compose(config_name="train", overrides=list(overrides))
    except HydraException as err:
        raise UserError(f"config: {str(err).splitlines()[0]}") from err


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


def image_size(cfg: DictConfig, backbone: Backbone) -> tuple[int, int]:
    size = cfg.data.get("image_size", NATIVE)
    if size == NATIVE:
        return backbone.native_size()
    return as_size(OmegaConf.to_object(size) if OmegaConf.is_config(size) else size)


def sample_images(cfg: DictConfig, size: tuple[int, int], count: int) -> tuple[torch.Tensor, str]:
    """`count` uint8 (1, H, W) images of the configured data, else a synthetic test card."""
    try:
        data = instantiate(cfg.data, image_size=list(size), seed=0)
        data.prepare_data()
        data.setup("fit")
        items = [data.train_set[i] for i in range(min(count, len(data.train_set)))]
        return torch.stack([item[0] for item in items]), f"the first {len(items)} training images"
    except Exception as err:  # noqa: BLE001 - any data problem: explain with a test card
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        return test_card(size, count), f"a synthetic test card (data unavailable: {reason})"


def test_card(size: tuple[int, int], count: int) -> torch.Tensor:
    """Gradients, a disc and stripes: every gray level, hard edges and texture."""
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
    return not list(module.children()) or isinstance(module, BN_TYPES) or hasattr(module, "conv")


def layer_rows(input_module: nn.Module, net: nn.Module, image: torch.Tensor) -> list[LayerRow]:
    """The input module and the backbone's leaf layers in the order they run, with shapes."""
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


# --------------------------------------------------------------------------- the checks
@dataclass
class Check:
    claim: str
    stem_diff: float
    features_diff: float
    equal: bool  # whether the claim is an equality (False: a difference worth seeing)


def adapted(net: nn.Module, strategy: Strategy, dc: BackboneDataConfig, dtype: torch.dtype):
    """A (input module, backbone) pair: a copy of `net` in `dtype`, adapted by `strategy`."""
    copy_ = copy.deepcopy(net).to(dtype).eval()
    return strategy.adapt(copy_, dc).to(dtype).eval(), copy_


def timm_in_chans_1(backbone: Backbone, net: nn.Module, dc: BackboneDataConfig) -> nn.Module:
    """timm's own 1-channel model: `in_chans=1`, the same weights through `adapt_input_conv`."""
    gray = timm.create_model(
        backbone.timm_name, pretrained=False, in_chans=1, num_classes=0, global_pool="",
        **backbone.create_kwargs,
    )  # fmt: skip
    state = dict(net.state_dict())
    key = f"{dc.first_conv}.weight"
    state[key] = adapt_input_conv(1, state[key])
    gray.load_state_dict(state)
    return gray.eval()


def equivalence_checks(
    backbone: Backbone, net: nn.Module, dc: BackboneDataConfig, images: torch.Tensor
) -> list[Check]:
    """Each claim measured twice: at the stem's output in float64 (where the strategies differ;
    everything after the stem is the same network) and on the backbone features in float32."""
    if not dc.first_conv:
        return []
    mean, std = gray_mean_std(dc)

    def run(pair, dtype: torch.dtype, stem_only: bool, x=images) -> torch.Tensor:
        input_module, model = pair
        with torch.no_grad():
            h = input_module(x) if input_module is not None else x
            if stem_only:
                return model.get_submodule(dc.first_conv)(h)
            return model.forward_features(h)

    def gray_normalised(dtype: torch.dtype):
        return lambda x: (x.to(dtype) / 255 - mean) / std

    def formula(dtype: torch.dtype):
        m = torch.tensor(dc.mean, dtype=dtype).view(1, 3, 1, 1)
        s = torch.tensor(dc.std, dtype=dtype).view(1, 3, 1, 1)
        return lambda x: (x.to(dtype) / 255 - m) / s

    def naive_fold(dtype: torch.dtype):
        input_module, model = adapted(net, Fold(), dc, dtype)
        stem = model.get_submodule(dc.first_conv)
        interior = stem.offset_kernel.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        stem.offset_map = lambda h, w: interior  # one constant bias: no border correction
        return input_module, model

    timm_gray = timm_in_chans_1(backbone, net, dc)

    def summed_in_float32(dtype: torch.dtype):  # timm sums the kernels in float32, so do we
        return tuple(m.to(dtype) for m in adapted(net, Sum(), dc, torch.float32))

    def with_(strategy: Strategy) -> Callable:
        return lambda dtype: adapted(net, strategy, dc, dtype)

    claims: list[tuple[str, Callable, Callable, bool]] = [
        ("repeat == sum", with_(Repeat()), with_(Sum()), True),
        ("sum == timm in_chans=1 (adapt_input_conv)", summed_in_float32,
         lambda d: (gray_normalised(d), copy.deepcopy(timm_gray).to(d)), True),
        ("keras == (x/255 - mean_c)/std_c", with_(Keras()),
         lambda d: (formula(d), copy.deepcopy(net).to(d)), True),
        ("fold == keras (borders included)", with_(Fold()), with_(Keras()), True),
        ("adapter (at init) == repeat", with_(Adapter()), with_(Repeat()), True),
        ("naive fold (no border correction) vs keras", naive_fold, with_(Keras()), False),
        ("keras vs repeat (per-channel vs one mean/std)", with_(Keras()), with_(Repeat()), False),
    ]  # fmt: skip
    checks = []
    for claim, left, right, equal in claims:
        diffs = []
        for dtype, stem_only in ((torch.float64, True), (torch.float32, False)):
            a, b = run(left(dtype), dtype, stem_only), run(right(dtype), dtype, stem_only)
            diffs.append((a - b).abs().max().item())
        checks.append(Check(claim, diffs[0], diffs[1], equal))
    return checks


def format_checks(checks: Sequence[Check]) -> str:
    lines = [f"{'claim':<48}{'stem, float64':>15}{'features, float32':>19}", "=" * 82]
    for c in checks:
        same = c.stem_diff <= 1e-10
        verdict = (
            ("equal" if same else "NOT EQUAL") if c.equal else ("same here" if same else "differs")
        )
        lines.append(f"{c.claim:<48}{c.stem_diff:>15.1e}{c.features_diff:>19.1e}   {verdict}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the costs
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
    input_module, model = adapted(net, strategy, dc, torch.float32)
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


# --------------------------------------------------------------------------- main
def all_strategies(conf_dir: Path = CONF) -> dict[str, Strategy]:
    """Every strategy of `conf/adapt/`, built from its YAML file."""
    return {
        p.stem: instantiate(OmegaConf.load(p)) for p in sorted((conf_dir / "adapt").glob("*.yaml"))
    }


def inspect(overrides: Sequence[str], out: Path | None = None, layers: int = 12) -> dict:
    """Print the explanation for the composed config; return its parts (for tests)."""
    cfg = compose_config(overrides)
    torch.manual_seed(0)
    backbone, net, note = build_backbone(cfg)
    dc = backbone.data_config(net)
    size = image_size(cfg, backbone)
    chosen: Strategy = instantiate(cfg.adapt)
    images, source = sample_images(cfg, size, 4)
    weights = "random init" if not backbone.pretrained else (backbone.weights or "hub")
    print(f"graytransfer inspect: {backbone.timm_name} ({weights}), adapt={chosen.name}, "
          f"input 1x{size[0]}x{size[1]} uint8")  # fmt: skip
    if note:
        print(f"note: {note}")
    print(f"weights' normalisation: mean {dc.mean}, std {dc.std}; stem '{dc.first_conv}'")
    print(f"images: {source}\n")

    input_module, model = adapted(net, chosen, dc, torch.float32)
    rows = layer_rows(input_module, model, images[:1])
    print(f"The first layers under adapt={chosen.name}:")
    print(format_layers(rows, images[:1], layers))
    widen = widening_layer(rows)
    if widen is None:
        print("The channel count never goes from 1 to 3: the stem itself takes the gray image.\n")
    else:
        print(f"Channels go from 1 to 3 at '{widen.name}' ({widen.kind}), before the stem.\n")

    checks = equivalence_checks(backbone, net, dc, images)
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
        input_module, _ = adapted(net, strategy, dc, torch.float32)
        path = out / f"{name}.png"
        if render_preview(input_module, images, dc.mean, dc.std, path) is not None:
            saved.append(path)
    print(
        f"What the backbone sees (input | channel 0 | 1 | 2 | as RGB): {len(saved)} PNGs in {out}/"
    )
    print("  " + ", ".join(p.name for p in saved))
    return {"rows": rows, "checks": checks, "costs": costs, "saved": saved, "size": size}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m graytransfer.inspect",
        description="Why a 3-channel backbone works on grayscale, for the composed config.",
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, as for train.py")
    parser.add_argument("--out", type=Path, default=None, help="folder for the PNGs")
    parser.add_argument("--layers", type=int, default=12, help="how many layers to list")
    args = parser.parse_args(argv)
    try:
        inspect(args.overrides, out=args.out, layers=args.layers)
    except (UserError, InstantiationException) as err:
        found = user_error_in(err)
        if found is None:
            raise
        print(f"graytransfer: error: {found}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
