"""Pictures of what the backbone sees (graytransfer.adapt.preview) and the InputPreview callback."""

from __future__ import annotations

from pathlib import Path

import pytest
import timm
import torch
from PIL import Image

from graytransfer.adapt import Fold, Keras, Repeat, Stack, Sum
from graytransfer.adapt.preview import COLUMNS, MIN_TILE, backbone_views, render_preview
from graytransfer.model.backbone import Backbone
from graytransfer.run.pipeline import train

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


def test_stem_strategies_have_no_picture(net_and_config, tmp_path):
    _, dc = net_and_config
    for strategy in (Sum(), Fold()):
        net = timm.create_model("test_efficientnet", pretrained=False)
        module = strategy.adapt(net, dc)
        assert render_preview(module, gray(), dc.mean, dc.std, tmp_path / "x.png") is None
    assert not (tmp_path / "x.png").exists()


def test_preview_png_has_one_row_per_image_and_five_columns(net_and_config, tmp_path):
    net, dc = net_and_config
    grid = render_preview(
        Stack().adapt(net, dc), gray(3, 12, 20), dc.mean, dc.std, tmp_path / "s.png"
    )
    scale = -(-MIN_TILE // 12)  # tiles enlarged to at least MIN_TILE pixels
    assert grid.shape == (3 * 12 * scale + 2 * 2, len(COLUMNS) * 20 * scale + 4 * 2, 3)
    assert Image.open(tmp_path / "s.png").size == (grid.shape[1], grid.shape[0])


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
