"""Every strategy trains end to end: GrayscaleClassifier (input module + real timm backbone +
head) on real digits, a few AdamW steps on one batch, and the loss falls. One strategy also goes
through the whole Hydra pipeline (`adapt=windows`)."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.head import ClassifierHead
from graytransfer.run import train

STEPS = 3  # the loss falls by half in 3 steps for every strategy; the test asks 20%


@pytest.fixture(scope="module")
def digits_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """32 real 8x8 digits (10 classes) upsampled to 16x16 uint8."""
    digits = load_digits()
    images = torch.tensor(digits.images[:32] * (255 / 16), dtype=torch.float32).unsqueeze(1)
    images = F.interpolate(images, size=(16, 16), mode="bilinear").round().to(torch.uint8)
    return images, torch.tensor(digits.target[:32])


def test_every_strategy_trains_and_its_loss_falls(strategies, digits_batch):
    images, labels = digits_batch
    for name, make in strategies.items():
        torch.manual_seed(0)
        model = GrayscaleClassifier(
            backbone=Backbone("test_efficientnet", pretrained=False),
            adapt=make(),
            head=functools.partial(ClassifierHead),
            optimizer=functools.partial(torch.optim.AdamW, lr=3e-3),
            num_classes=10,
        ).train()
        optimizer = model.configure_optimizers()["optimizer"]
        losses = []
        for _ in range(STEPS):
            loss = F.cross_entropy(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        assert losses[-1] < 0.8 * losses[0], f"{name}: {losses}"
        learned = [p for p in model.input_adapter.parameters() if p.requires_grad]
        if name in ("adapter", "windows"):
            assert learned and all(p.grad is not None and p.grad.abs().sum() > 0 for p in learned)


@pytest.mark.slow
def test_windows_through_the_pipeline_with_the_input_preview(make_cfg):
    cfg = make_cfg("adapt=windows", "logger=csv", "model=lite0")
    info = train(cfg)
    assert info["strategy"] == "windows"
    out = Path(cfg.paths.output_dir)
    assert json.loads((out / "metrics.json").read_text())["strategy"] == "windows"
    assert sorted(p.name for p in (out / "preview").glob("*.png")) == ["end.png", "start.png"]
