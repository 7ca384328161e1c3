"""Every strategy: selectable by `adapt=NAME`, applies to every model family (EfficientNet, V2,
ResNet, ConvNeXt, ViT), refuses clearly where it cannot apply, and its fixed views are right."""

from __future__ import annotations

import dataclasses

import pytest
import timm
import torch
from helpers.adapt_helpers import Adapted, data_config, gray_batch
from helpers.configs import CONF

from graytransfer.adapt import Colormap, Fold, Keras, Repeat, Stack, Sum, Windows
from graytransfer.adapt.stack import equalize
from graytransfer.adapt.viridis import VIRIDIS
from graytransfer.errors import UserError

STRATEGIES = sorted(p.stem for p in (CONF / "adapt").glob("*.yaml"))
STEM_STRATEGIES = {"sum", "mean", "fold", "luma", "scratch"}

FAMILIES = {
    "efficientnet": ("test_efficientnet", {}),
    "efficientnet_v2": ("tf_efficientnetv2_b0", {}),
    "resnet": ("test_resnet", {}),
    "convnext": ("test_convnext", {}),
    "vit": ("test_vit", {"img_size": 32}),
}
#: larger models: only the strategies that rewrite their stem are run on them
STEM_ONLY = {"efficientnet_v2"}


def test_all_eleven_strategies_have_a_config():
    assert set(STRATEGIES) >= {
        "repeat", "keras", "sum", "mean", "fold", "luma", "adapter", "scratch", "colormap",
        "stack", "windows",
    }  # fmt: skip


@pytest.mark.parametrize("family", FAMILIES)
def test_every_strategy_applies_to_every_family(strategies, family):
    name, kwargs = FAMILIES[family]
    torch.manual_seed(0)
    net = timm.create_model(name, pretrained=False, num_classes=3, **kwargs).eval()
    x = gray_batch(32, 32)
    first_conv = net.pretrained_cfg["first_conv"]
    for strategy_name, make in strategies.items():
        if family in STEM_ONLY and strategy_name not in STEM_STRATEGIES:
            continue  # the input-side strategies never look past the 3-channel input
        strategy = make()
        assert strategy.name == strategy_name
        model = Adapted(net, strategy, dtype=torch.float32)
        stem = model.net.get_submodule(first_conv)
        weight = stem.conv.weight if strategy_name == "fold" else stem.weight
        assert weight.shape[1] == (1 if strategy_name in STEM_STRATEGIES else 3), strategy_name
        out = model(x)
        assert out.shape == (2, 3) and torch.isfinite(out).all(), strategy_name


@pytest.mark.parametrize("strategy", [Sum(), Fold()], ids=["sum", "fold"])
def test_stem_strategies_refuse_models_without_a_conv_stem(strategy):
    net = timm.create_model("test_efficientnet", pretrained=False)
    dc = data_config(net)
    with pytest.raises(UserError, match="first conv"):
        strategy.adapt(net, dataclasses.replace(dc, first_conv=""))
    with pytest.raises(UserError, match="'bn1' is a BatchNormAct2d, not a Conv2d"):
        strategy.adapt(net, dataclasses.replace(dc, first_conv="bn1"))
    with pytest.raises(UserError, match="no layer 'stem.nope'"):
        strategy.adapt(net, dataclasses.replace(dc, first_conv="stem.nope"))
    Sum().adapt(net, dc)  # now a 1-channel stem: adapting it again is refused
    with pytest.raises(UserError, match="takes 1 channels in 1 group"):
        strategy.adapt(net, dc)


def test_bad_strategy_arguments_are_user_errors():
    with pytest.raises(UserError, match="adapt.cmap"):
        Colormap("jet")
    with pytest.raises(UserError, match="adapt.widths"):
        Windows(widths=(0.5, 0.0, 0.5))
    net = timm.create_model("test_efficientnet", pretrained=False)
    with pytest.raises(UserError, match="adapt.mean/adapt.std"):
        Keras(mean=(0.5,), std=(0.5,)).adapt(net, data_config(net))


def test_stack_views_image_equalised_edges():
    x = torch.tensor([[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 200, 200], [0, 0, 200, 200]])
    x = x.to(torch.uint8).view(1, 1, 4, 4)
    eq = equalize(x, torch.float64)
    # levels 0 (8 px), 100 (4 px), 200 (4 px): cdf 8, 12, 16 -> (cdf - 8) / (16 - 8)
    assert torch.equal(eq.unique(), torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    net = timm.create_model("test_efficientnet", pretrained=False)
    stack = Stack().adapt(net, data_config(net)).double()
    views = stack(x) * stack.std + stack.mean
    assert torch.allclose(views[:, 0], x[:, 0].double() / 255)
    assert torch.allclose(views[:, 1], eq[:, 0])
    assert views[0, 2, :, 0].max() == 0 and views[0, 2, :, 1].min() > 0  # flat vs the step
    assert torch.equal(
        equalize(torch.full((1, 1, 3, 3), 7, dtype=torch.uint8), torch.float32),
        torch.zeros(1, 1, 3, 3),
    )


def test_colormap_is_the_viridis_table_normalised_like_rgb():
    net = timm.create_model("test_efficientnet", pretrained=False)
    dc = data_config(net)
    module = Colormap().adapt(net, dc).double()
    x = torch.tensor([0, 128, 255], dtype=torch.uint8).view(1, 1, 1, 3)
    rgb = module(x)[0, :, 0].T * torch.tensor(dc.std) + torch.tensor(dc.mean)
    expected = torch.tensor([VIRIDIS[0], VIRIDIS[128], VIRIDIS[255]], dtype=torch.float64)
    assert torch.allclose(rgb, expected, atol=1e-6)


def test_windows_learn_their_centres_and_widths():
    net = timm.create_model("test_efficientnet", pretrained=False)
    module = Windows().adapt(net, data_config(net))
    out = module(gray_batch(8, 8))
    assert out.shape == (2, 3, 8, 8)
    out.square().mean().backward()
    assert module.centre.grad.abs().min() > 0 and module.log_width.grad.abs().min() > 0
    assert torch.allclose(module.width.flatten(), torch.tensor([0.5, 0.5, 0.5]))


def test_repeat_and_keras_leave_the_backbone_untouched():
    net = timm.create_model("test_efficientnet", pretrained=False)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for strategy in (Repeat(), Keras(), Colormap(), Stack(), Windows()):
        strategy.adapt(net, data_config(net))
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_every_strategy_keeps_itself_in_front_of_a_mapping_but_preset_windows(strategies):
    """`Strategy.for_mapping` is the one hook `input_module` calls: the default is the strategy
    itself; `windows` with CT presets returns new windows on the mapping's scale."""
    from graytransfer.adapt.raw_maps import LinearMap

    mapping = LinearMap(-1024.0, 3071.0, "int16")
    for name, make in strategies.items():
        strategy = make()
        assert strategy.for_mapping(None) is strategy, name
        assert strategy.for_mapping(mapping) is strategy, name
    presets = Windows(presets=["lung", "mediastinum", "bone"])
    placed = presets.for_mapping(mapping)
    assert isinstance(placed, Windows) and placed is not presets and placed.presets is None
    assert placed.centres == pytest.approx([mapping.fraction(c) for c in (-600.0, 50.0, 400.0)])
    with pytest.raises(UserError, match="full-range mapping"):
        presets.for_mapping(None)
