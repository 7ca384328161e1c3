"""The equivalences between strategies (docs/why-grayscale.md), proven on full logits of real
timm models in float64, eval mode, random BatchNorm stats: "equals" means a max abs difference
<= 1e-8."""

from __future__ import annotations

import copy

import pytest
import timm
import torch
from helpers.adapt_helpers import TOL, Adapted, data_config, gray_batch, max_diff

from graytransfer.adapt import Adapter, Fold, GrayToFloat, Keras, Repeat, Sum
from graytransfer.adapt.base import gray_mean_std
from graytransfer.adapt.fold import FoldedStem

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.mark.parametrize("name", ["test_efficientnet", "resnet18"])
def test_repeat_equals_sum(nets, name):
    net = nets(name)
    x = gray_batch(15, 22)
    repeat, summed = Adapted(net, Repeat()), Adapted(net, Summed := Sum())
    assert summed.net.get_submodule(net.pretrained_cfg["first_conv"]).in_channels == 1
    assert max_diff(repeat(x), summed(x)) <= TOL
    assert Summed.name == "sum"


def test_sum_equals_timm_in_chans_1(nets, tmp_path):
    """timm's own route: a 3-channel checkpoint file loaded into `in_chans=1` (adapt_input_conv)."""
    net = nets("test_efficientnet")
    path = tmp_path / "rgb.pth"
    torch.save(net.state_dict(), path)
    overlay = {"file": str(path), "num_classes": 7}
    timm_gray = timm.create_model(
        "test_efficientnet",
        pretrained=True,
        in_chans=1,
        num_classes=7,
        pretrained_cfg_overlay=overlay,
    )
    timm_gray = timm_gray.double().eval()
    mean, std = gray_mean_std(data_config(net))
    x = gray_batch(16, 16)
    with torch.no_grad():
        expected = timm_gray((x.double() / 255 - mean) / std)
    ours = Adapted(copy.deepcopy(net), Sum(), dtype=torch.float32)  # sum in float32, like timm
    ours = ours.double()
    assert max_diff(ours(x), expected) <= TOL


def test_keras_is_the_seed_formula_channel_by_channel(nets):
    net = nets("test_efficientnet")
    dc = data_config(net)
    assert (dc.mean, dc.std) == IMAGENET
    keras = Adapted(net, Keras())
    x = gray_batch(17, 17)
    gray = x.double() / 255
    formula = torch.cat([(gray - m) / s for m, s in zip(*IMAGENET, strict=True)], dim=1)
    assert max_diff(keras.input(x), formula) <= 1e-12
    # repeat, then re-normalise each channel with its own mean/std
    repeat = Adapted(net, Repeat())
    mean, std = gray_mean_std(dc)
    renormalised = torch.cat(
        [
            (repeat.input(x)[:, c : c + 1] * std + mean - m) / s
            for c, (m, s) in enumerate(zip(*IMAGENET, strict=True))
        ],
        dim=1,
    )
    with torch.no_grad():
        assert max_diff(keras(x), keras.net(formula)) <= TOL
        assert max_diff(keras(x), keras.net(renormalised)) <= TOL
    assert max_diff(keras(x), repeat(x)) > 1e-3  # per-channel vs averaged stats really differ


FOLD_MODELS = [
    ("test_efficientnet", {}),  # symmetric zero padding, 3x3 stride 2
    ("test_efficientnet", {"pad_type": "same"}),  # timm's Conv2dSame: dynamic TF 'same' padding
    ("resnet18", {}),  # 7x7 stride 2, padding 3
]


@pytest.mark.parametrize(("name", "kwargs"), FOLD_MODELS, ids=["symmetric", "tf_same", "resnet"])
@pytest.mark.parametrize("size", [(17, 17), (16, 16), (15, 22)], ids=["odd", "even", "non_square"])
def test_fold_equals_keras_borders_included(nets, name, kwargs, size):
    net = nets(name, **kwargs)
    keras, fold = Adapted(net, Keras()), Adapted(net, Fold())
    assert isinstance(fold.net.get_submodule(net.pretrained_cfg["first_conv"]), FoldedStem)
    x = gray_batch(*size)
    assert max_diff(keras(x), fold(x)) <= TOL


def test_fold_equals_keras_on_the_tf_port_lite0(nets):
    """The project's default backbone, a `tf_` port with Conv2dSame, with Keras' ImageNet stats
    (its own are 0.5/0.5, which would make keras == repeat)."""
    net = nets("tf_efficientnet_lite0", num_classes=5)
    assert type(net.conv_stem).__name__ == "Conv2dSame"
    keras, fold = Adapted(net, Keras(*IMAGENET)), Adapted(net, Fold(*IMAGENET))
    x = gray_batch(9, 14, n=1)
    assert max_diff(keras(x), fold(x)) <= TOL


def test_border_correction_is_what_makes_the_fold_exact(nets):
    """A naive fold (one constant bias, the interior value) is wrong at the borders."""
    net = nets("test_efficientnet")
    keras, fold = Adapted(net, Keras()), Adapted(net, Fold())
    stem = fold.net.conv_stem
    x = gray_batch(16, 16)
    gray = fold.input(x)
    interior = stem.offset_kernel.sum(dim=(1, 2, 3)).view(1, -1, 1, 1)
    with torch.no_grad():
        exact = keras.net.conv_stem(keras.input(x))
        naive = stem.conv(gray) - interior
    assert max_diff(stem(gray), exact) <= 1e-12
    error = (naive - exact).abs()
    assert error[..., 1:-1, 1:-1].max() <= 1e-12  # inside: the naive fold is right
    assert error.max() > 1e-2  # at the border it is not


def test_fold_caches_one_offset_map_per_size_outside_the_state_dict(nets):
    fold = Adapted(nets("test_efficientnet"), Fold())
    stem = fold.net.conv_stem
    for size in [(16, 16), (15, 22), (16, 16)]:
        fold(gray_batch(*size))
    assert len(stem._offsets) == 2
    assert "conv_stem.offset_kernel" in fold.net.state_dict()
    assert not any("_offsets" in k for k in fold.net.state_dict())
    fold.float()
    assert not stem._offsets  # a cast drops the cache; it is rebuilt in the new dtype


@pytest.mark.parametrize("hidden", [0, 8])
def test_adapter_at_init_equals_repeat(nets, hidden):
    net = nets("test_efficientnet")
    x = gray_batch(16, 20)
    adapter = Adapted(net, Adapter(hidden=hidden))
    assert any(p.requires_grad for p in adapter.input.parameters())
    assert max_diff(adapter(x), Adapted(net, Repeat())(x)) <= TOL


def test_gray_to_float_keeps_exact_constants_when_cast():
    module = GrayToFloat(mean=(0.485,), std=(0.229,)).double()
    assert module.mean.item() == 0.485 and module.std.item() == 0.229
