"""Pictures of what the backbone sees (graytransfer.adapt.preview) and the InputPreview callback."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch
from PIL import Image

from graytransfer.adapt import Fold, Keras, Luma, Mean, Repeat, Scratch, Stack, Sum
from graytransfer.adapt.base import adapted_copy
from graytransfer.adapt.preview import (
    COLUMNS_KEY,
    LABEL_HEIGHT,
    MIN_TILE,
    backbone_views,
    preview_columns,
    render_preview,
)
from graytransfer.model.backbone import Backbone
from graytransfer.run import train

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


@pytest.fixture(scope="module")
def net_and_config():
    net = timm.create_model("test_efficientnet", pretrained=False)
    return net, Backbone("test_efficientnet", pretrained=False).data_config(net)


def gray(n: int = 3, h: int = 12, w: int = 20) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, h, w), generator=torch.Generator().manual_seed(0)).to(
        torch.uint8
    )


def test_under_keras_the_backbone_sees_the_gray_photo_itself(net_and_config):
    """Per-channel normalisation of a gray image is what the weights do to a neutral gray photo
    (R = G = B); one averaged mean/std (repeat) tints it."""
    net, dc = net_and_config
    assert (dc.mean, dc.std) == IMAGENET
    x = gray()
    keras = backbone_views(Keras().adapt(net, dc).double(), x, dc.mean, dc.std)
    for c in range(3):
        assert torch.allclose(keras[:, c : c + 1], x.float() / 255, atol=1e-6)
    repeat = backbone_views(Repeat().adapt(net, dc), x, dc.mean, dc.std)
    tint = (repeat[:, 0] - repeat[:, 2]).abs().max()
    assert 0.01 < tint < 0.2


STEM_COLUMNS = ("input", "stem input", "stem map 0", "stem map 1", "stem map 2", "stem map 3")


@pytest.mark.parametrize("strategy", [Sum(), Fold(), Mean(), Luma(), Scratch()], ids=repr)
def test_a_stem_strategy_writes_a_labelled_preview_of_what_its_stem_sees(
    net_and_config, tmp_path, strategy
):
    _, dc = net_and_config
    net = timm.create_model("test_efficientnet", pretrained=False)
    module = strategy.adapt(net, dc)
    path = tmp_path / "stem.png"
    preview = render_preview(module, gray(), dc.mean, dc.std, path, net, dc.first_conv)
    assert preview.columns == STEM_COLUMNS
    saved = Image.open(path)
    assert saved.text[COLUMNS_KEY] == " | ".join(STEM_COLUMNS)
    pixels = np.asarray(saved)
    assert pixels.shape == preview.grid.shape
    tiles, labels = pixels[LABEL_HEIGHT:], pixels[:LABEL_HEIGHT]
    assert tiles.std() > 20  # pictures, not a blank canvas
    assert (labels < 128).any()  # the labels are drawn


def test_the_stem_maps_are_what_the_patched_stem_computes(net_and_config):
    """`fold` computes exactly what `keras` computes, border correction included: their stem maps
    agree; `sum` (one averaged mean/std) differs from both."""
    net, dc = net_and_config
    x = gray(2, 16, 16)

    def maps(strategy):
        module, backbone = adapted_copy(net, strategy, dc, torch.float64)  # the same weights
        columns = dict(preview_columns(module, x, dc.mean, dc.std, backbone, dc.first_conv))
        return torch.cat([columns[f"stem map {k}"] for k in range(4)], dim=1)

    fold, keras, summed = maps(Fold()), maps(Keras()), maps(Sum())
    assert fold.shape == (2, 4, 8, 8)
    assert torch.allclose(fold, keras, atol=1e-5)
    assert (fold - summed).abs().max() > 1e-2


def test_preview_png_has_one_row_per_image_and_labelled_columns(net_and_config, tmp_path):
    net, dc = net_and_config
    preview = render_preview(
        Stack().adapt(net, dc), gray(3, 12, 20), dc.mean, dc.std, tmp_path / "s.png"
    )
    assert preview.columns == ("input", "R channel", "G channel", "B channel", "as RGB")
    scale = -(-MIN_TILE // 12)  # tiles enlarged to at least MIN_TILE pixels
    assert preview.grid.shape == (LABEL_HEIGHT + 3 * 12 * scale + 2 * 2, 5 * 20 * scale + 4 * 2, 3)
    assert Image.open(tmp_path / "s.png").size == (preview.grid.shape[1], preview.grid.shape[0])


@pytest.mark.slow
def test_callback_logs_start_and_end_pictures_to_wandb_for_a_learned_strategy(make_cfg):
    """Not fast_dev_run: Lightning swaps every logger for a dummy there."""
    cfg = make_cfg(
        "adapt=adapter",
        "logger=wandb",
        "data.image_size=32",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "trainer.enable_progress_bar=false",
        "~callbacks.rich_progress_bar",
        fast=False,
    )
    info = train(cfg)
    out = Path(cfg.paths.output_dir)
    assert sorted(p.name for p in (out / "preview").glob("*.png")) == ["end.png", "start.png"]
    media = list(Path(info["wandb_dir"]).rglob("media/images/preview/*.png"))
    assert {p.name.split("_")[0] for p in media} == {"start", "end"}


@pytest.mark.slow
def test_callback_writes_a_labelled_stem_preview_for_a_stem_strategy(make_cfg):
    cfg = make_cfg(
        "adapt=fold",
        "model=timm",
        "model.name=test_efficientnet",
        "model.pretrained=false",
        "logger=none",
    )
    train(cfg)
    start = Path(cfg.paths.output_dir) / "preview" / "start.png"
    assert Image.open(start).text[COLUMNS_KEY] == " | ".join(STEM_COLUMNS)
    assert not (start.parent / "end.png").exists()  # nothing learned in the input module
