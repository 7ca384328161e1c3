"""Every strategy normalises with the backbone's OWN data config, and the collapsed stems are
exactly `sum_c w_c * W_c` with their documented weights.

The expected values are written out by hand from the formulas (the strategies' docstrings and
docs/why-grayscale.md), never computed by the code under test, and the data config is
deliberately not ImageNet's: mean (0.1, 0.2, 0.6), std (0.3, 0.4, 0.8), whose averages (0.3,
0.5) are no channel's own. So a strategy that ignores the config (ImageNet's statistics), or
takes one channel's values for the gray image, fails here.

With that config and the pixels 0, 51, 255 (g = x/255 = 0, 0.2, 1):
- one gray mean/std (the average of the three): 0.3 / 0.5, so (g - 0.3) / 0.5 = -0.6, -0.2, 1.4;
- per channel (keras): R (g - 0.1) / 0.3 = -1/3, 1/3, 3; G (g - 0.2) / 0.4 = -0.5, 0, 2;
  B (g - 0.6) / 0.8 = -0.75, -0.5, 0.5;
- fold feeds g itself (0, 0.2, 1) to a stem with W' = W_R/0.3 + W_G/0.4 + W_B/0.8 and offset
  kernel U = (0.1/0.3) W_R + (0.2/0.4) W_G + (0.6/0.8) W_B = W_R/3 + 0.5 W_G + 0.75 W_B.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from graytransfer.adapt import Adapter, Fold, Keras, Luma, Repeat, Scratch, Strategy, Sum
from graytransfer.adapt.fold import FoldedStem
from graytransfer.adapt.mean import Mean
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.head import ClassifierHead

ODD_MEAN = (0.1, 0.2, 0.6)
ODD_STD = (0.3, 0.4, 0.8)
PIXELS = torch.tensor([0, 51, 255], dtype=torch.uint8).view(1, 1, 1, 3)

ONE_GRAY = [-0.6, -0.2, 1.4]  # (g - 0.3) / 0.5
KERAS = [[-1 / 3, 1 / 3, 3.0], [-0.5, 0.0, 2.0], [-0.75, -0.5, 0.5]]
RAW = [0.0, 0.2, 1.0]  # g = x / 255

#: strategy -> the input module's output on PIXELS, one row per channel
EXPECTED_INPUT = {
    "repeat": [ONE_GRAY] * 3,
    "sum": [ONE_GRAY],
    "mean": [ONE_GRAY],
    "luma": [ONE_GRAY],
    "scratch": [ONE_GRAY],
    "adapter": [ONE_GRAY] * 3,  # 1x1 conv with weights 1, bias 0 at init
    "keras": KERAS,
    "fold": [RAW],
}
STRATEGIES: dict[str, type[Strategy]] = {
    "repeat": Repeat,
    "sum": Sum,
    "mean": Mean,
    "luma": Luma,
    "scratch": Scratch,
    "adapter": Adapter,
    "keras": Keras,
    "fold": Fold,
}


def odd_backbone(name: str = "test_efficientnet") -> Backbone:
    """A real timm backbone whose pretrained_cfg carries the odd mean/std."""
    overlay = {"mean": ODD_MEAN, "std": ODD_STD}
    return Backbone(name, pretrained=False, create_kwargs={"pretrained_cfg_overlay": overlay})


def seeded_eval_classifier(backbone: Backbone, strategy: Strategy) -> GrayscaleClassifier:
    """The real module, its backbone built under seed 0 (see `original_stem`)."""
    torch.manual_seed(0)
    return GrayscaleClassifier(
        backbone=backbone,
        adapt=strategy,
        head=functools.partial(ClassifierHead),
        optimizer=functools.partial(torch.optim.AdamW),
        num_classes=3,
    ).eval()


def original_stem(backbone: Backbone) -> torch.Tensor:
    """The 3-channel stem kernels the classifier's backbone had before adaptation (float64)."""
    torch.manual_seed(0)
    return backbone.build().conv_stem.weight.detach().double()


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_input_normalisation_comes_from_the_backbones_data_config(name):
    model = seeded_eval_classifier(odd_backbone(), STRATEGIES[name]())
    assert (model.data_config.mean, model.data_config.std) == (ODD_MEAN, ODD_STD)
    with torch.no_grad():
        out = model.input_adapter.double()(PIXELS)
    expected = torch.tensor(EXPECTED_INPUT[name], dtype=torch.float64).view(1, -1, 1, 3)
    assert out.shape == expected.shape
    assert torch.allclose(out, expected, rtol=0, atol=1e-12), out.flatten().tolist()


def test_the_lite0_config_is_its_own_half_half_not_imagenet():
    """The project's default backbone: timm's pretrained_cfg says mean = std = 0.5."""
    model = seeded_eval_classifier(Backbone("tf_efficientnet_lite0", pretrained=False), Repeat())
    with torch.no_grad():
        out = model.input_adapter.double()(PIXELS)
    expected = torch.tensor([-1.0, -0.6, 1.0], dtype=torch.float64)  # (g - 0.5) / 0.5
    assert torch.allclose(out, expected.view(1, 1, 1, 3).expand(1, 3, 1, 3), atol=1e-12)


#: the documented channel weights (w_R, w_G, w_B) of the collapsed stems
COLLAPSED = {
    "sum": (Sum, (1.0, 1.0, 1.0)),
    "mean": (Mean, (1 / 3, 1 / 3, 1 / 3)),
    "luma": (Luma, (3 * 0.299, 3 * 0.587, 3 * 0.114)),  # ITU-R BT.601 luma, times 3
}


@pytest.mark.parametrize("name", list(COLLAPSED))
def test_collapsed_stem_is_the_weighted_sum_of_the_rgb_kernels(name):
    make, (w_r, w_g, w_b) = COLLAPSED[name]
    backbone = odd_backbone()
    rgb = original_stem(backbone)
    assert rgb.shape[1] == 3
    stem = seeded_eval_classifier(backbone, make()).backbone.conv_stem
    expected = w_r * rgb[:, 0:1] + w_g * rgb[:, 1:2] + w_b * rgb[:, 2:3]
    assert stem.weight.shape == expected.shape and stem.in_channels == 1
    assert torch.allclose(stem.weight.double(), expected, rtol=0, atol=1e-6)
    assert not torch.allclose(rgb[:, 0], rgb[:, 2], atol=1e-3)  # so swapped weights would show


def test_fold_stem_is_the_keras_formula_with_the_backbones_own_stats():
    backbone = odd_backbone()
    rgb = original_stem(backbone)
    model = seeded_eval_classifier(backbone, Fold()).double()
    stem = model.backbone.conv_stem
    assert isinstance(stem, FoldedStem)
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    assert torch.allclose(stem.conv.weight, r / 0.3 + g / 0.4 + b / 0.8, rtol=0, atol=1e-6)
    assert torch.allclose(stem.offset_kernel, r / 3 + 0.5 * g + 0.75 * b, rtol=0, atol=1e-6)
    # end to end, borders included: the original stem fed the hand-made keras input
    gen = torch.Generator().manual_seed(1)
    x = torch.randint(0, 256, (2, 1, 9, 10), dtype=torch.uint8, generator=gen)
    gray = x.double() / 255
    keras = torch.cat([(gray - m) / s for m, s in zip(ODD_MEAN, ODD_STD, strict=True)], dim=1)
    with torch.no_grad():
        got = stem(model.input_adapter(x))
    expected = F.conv2d(keras, rgb, None, stride=2, padding=1)  # conv_stem: 3x3, s2, p1
    assert torch.allclose(got, expected, rtol=0, atol=1e-5)


def test_scratch_stem_is_new_and_single_channel():
    backbone = odd_backbone()
    rgb = original_stem(backbone)
    stem = seeded_eval_classifier(backbone, Scratch()).backbone.conv_stem
    assert isinstance(stem, nn.Conv2d) and stem.weight.shape == (rgb.shape[0], 1, 3, 3)
    assert not torch.allclose(stem.weight.double(), rgb.sum(dim=1, keepdim=True), atol=1e-3)
