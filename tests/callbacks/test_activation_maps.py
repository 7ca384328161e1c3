"""The activation-maps callback: off by default; enabled, maps of the first test images of each
class in the run folder and in W&B at the end of testing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from graytransfer.callbacks.activation_maps import ActivationMaps, activation_maps
from graytransfer.errors import UserError
from graytransfer.run import train

RUN = [
    "model=timm",
    "model.name=test_efficientnet",
    "model.pretrained=false",
    "data.image_size=32",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
]


def test_activation_maps_are_off_by_default(make_cfg) -> None:
    assert "activation_maps" not in make_cfg().callbacks
    cfg = make_cfg("callbacks=[default,activation_maps]")
    assert cfg.callbacks.activation_maps.dirpath.endswith("activation_maps")
    assert "confusion_matrix" in cfg.callbacks  # the default set is kept


@pytest.mark.slow
def test_callback_writes_and_logs_maps_per_class_at_the_end_of_testing(make_cfg) -> None:
    """Not fast_dev_run: Lightning swaps every logger for a dummy there."""
    cfg = make_cfg(
        *RUN,
        "logger=wandb",
        "callbacks=[model_checkpoint,nan_guard,activation_maps]",
        "callbacks.activation_maps.per_class=1",
        "callbacks.activation_maps.layer=blocks.3",
        fast=False,
    )
    info = train(cfg)
    folder = Path(cfg.paths.output_dir) / "activation_maps"
    names = [str(i) for i in range(10)]
    pictures = sorted(p.name for p in folder.glob("0*.png"))
    assert pictures == [f"{i:03d}_{name}.png" for i, name in enumerate(names)]  # one per class
    assert (folder / "grid.png").stat().st_size > 0
    maps = np.load(folder / "maps.npy")
    assert maps.shape == (10, 32, 32) and maps.min() >= 0.0 and maps.max() <= 1.0
    media = list(Path(info["wandb_dir"]).rglob("media/images/test/activation_maps*.png"))
    assert len(media) == 10


def test_callback_refuses_bad_settings(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="callbacks.activation_maps.method: 'lime'"):
        ActivationMaps(str(tmp_path), method="lime")
    with pytest.raises(UserError, match="callbacks.activation_maps.per_class: 0"):
        ActivationMaps(str(tmp_path), per_class=0)


def test_maps_are_computed_inside_lightnings_inference_mode(make_cfg) -> None:
    """on_test_epoch_end runs under torch.inference_mode with gradients off (as Trainer.test
    does): the maps must still get their gradients there."""
    from hydra.utils import instantiate

    from graytransfer.model.build import build_classifier

    cfg = make_cfg(*RUN[:3])
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=["a", "b"], image_size=(64, 64)
    ).eval()
    images = torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8)
    outside, _ = activation_maps(model, images, "gradcam", layer="blocks.3")
    assert outside.std() > 0
    with torch.inference_mode(), torch.no_grad():
        inside, _ = activation_maps(model, images.clone(), "gradcam", layer="blocks.3")
    np.testing.assert_allclose(inside, outside, atol=1e-6)


def test_callback_refuses_a_multilabel_model_before_any_work(tmp_path) -> None:
    from graytransfer.task.binary import BinaryTask
    from graytransfer.task.multilabel import MultiLabelTask

    model = torch.nn.Module()
    model.task = MultiLabelTask()
    callback = ActivationMaps(dirpath=str(tmp_path))
    with pytest.raises(UserError, match="task=multiclass or binary models .*task=multilabel"):
        callback.setup(trainer=None, pl_module=model, stage="fit")
    assert not any(tmp_path.iterdir())
    model.task = BinaryTask()  # a binary model is explained (tests/callbacks/test_every_task.py)
    callback.setup(trainer=None, pl_module=model, stage="fit")


@pytest.mark.parametrize("adapt", ["colormap", "repeat"])
def test_a_frozen_backbone_behind_any_input_module_is_explained(make_cfg, adapt) -> None:
    """adapt=colormap (a lookup table: no gradient from the input) with a frozen backbone gave
    pytorch-grad-cam no gradient at the layer (AttributeError), found by the combination
    matrix. The maps are made, and the backbone stays frozen after."""
    from hydra.utils import instantiate

    from graytransfer.model.build import build_classifier

    cfg = make_cfg(*RUN[:3], f"adapt={adapt}")
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=["a", "b"], image_size=(64, 64)
    ).eval()
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    images = torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8)
    maps, _ = activation_maps(model, images, "gradcam", layer="blocks.3")
    assert maps.shape == (2, 64, 64) and maps.std() > 0
    assert not any(p.requires_grad for p in model.parameters())
