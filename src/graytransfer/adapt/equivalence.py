"""The exact equivalences between strategies, measured on a real backbone.

Each claim (repeat == sum, sum == timm's `in_chans=1`, keras == its formula, fold == keras with
its border correction, adapter at init == repeat) is checked twice: at the stem's output in
float64, where the strategies differ (everything after the stem is the same network), and on the
backbone features in float32. `python -m graytransfer.tools.inspect` prints them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import timm
import torch
from timm.models import adapt_input_conv
from torch import nn

from graytransfer.adapt.adapter import Adapter
from graytransfer.adapt.base import BackboneDataConfig, Strategy, adapted_copy, gray_mean_std
from graytransfer.adapt.fold import Fold
from graytransfer.adapt.keras import Keras
from graytransfer.adapt.repeat import Repeat
from graytransfer.adapt.sum import Sum


@dataclass
class Check:
    claim: str
    stem_diff: float
    features_diff: float
    equal: bool  # whether the claim is an equality (False: a difference worth seeing)


def timm_in_chans_1(
    timm_name: str, create_kwargs: dict, net: nn.Module, dc: BackboneDataConfig
) -> nn.Module:
    """timm's own 1-channel model: `in_chans=1`, the same weights through `adapt_input_conv`."""
    gray = timm.create_model(
        timm_name, pretrained=False, in_chans=1, num_classes=0, global_pool="",
        **create_kwargs,
    )  # fmt: skip
    state = dict(net.state_dict())
    key = f"{dc.first_conv}.weight"
    state[key] = adapt_input_conv(1, state[key])
    gray.load_state_dict(state)
    return gray.eval()


def equivalence_checks(
    timm_name: str,
    create_kwargs: dict,
    net: nn.Module,
    dc: BackboneDataConfig,
    images: torch.Tensor,
) -> list[Check]:
    """Each claim measured twice: at the stem's output in float64 (where the strategies differ;
    everything after the stem is the same network) and on the backbone features in float32.
    `timm_name`/`create_kwargs` name the timm model `net` is (for timm's own `in_chans=1`)."""
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
        input_module, model = adapted_copy(net, Fold(), dc, dtype)
        stem = model.get_submodule(dc.first_conv)
        interior = stem.offset_kernel.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
        stem.offset_map = lambda h, w: interior  # one constant bias: no border correction
        return input_module, model

    timm_gray = timm_in_chans_1(timm_name, create_kwargs, net, dc)

    def summed_in_float32(dtype: torch.dtype):  # timm sums the kernels in float32, so do we
        return tuple(m.to(dtype) for m in adapted_copy(net, Sum(), dc, torch.float32))

    def with_(strategy: Strategy) -> Callable:
        return lambda dtype: adapted_copy(net, strategy, dc, dtype)

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
