"""GrayscaleClassifier's training loss is the configured one: class weights (`data.balance=loss`)
and label smoothing (top-level `label_smoothing`) both reach `F.cross_entropy` in training, and
validation/test losses stay unweighted. Checked on a real timm model and a fixed batch against
`F.cross_entropy` called with the expected arguments written out in the test."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from helpers.configs import compose_config
from omegaconf import OmegaConf

from graytransfer.adapt import Repeat
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.head import ClassifierHead
from graytransfer.run import build_data_and_model

#: the steps are called without a Trainer, so their `self.log` calls warn and log nothing
pytestmark = pytest.mark.filterwarnings("ignore:You are trying to `self.log")

WEIGHTS = [0.25, 1.0, 4.0]
SMOOTHING = 0.2


def make_classifier(**kwargs) -> GrayscaleClassifier:
    """A real classifier whose logits are far from uniform (a freshly initialised head gives
    almost equal logits, for which weights and smoothing hardly change the loss)."""
    torch.manual_seed(0)
    model = GrayscaleClassifier(
        backbone=Backbone("test_efficientnet", pretrained=False),
        adapt=Repeat(),
        head=functools.partial(ClassifierHead),
        optimizer=functools.partial(torch.optim.AdamW),
        num_classes=3,
        **kwargs,
    )
    last = model.head.classifier[-1]
    with torch.no_grad():
        last.bias.copy_(torch.tensor([4.0, 0.0, -4.0]))  # confident in class 0, never in 2
    return model.eval()  # eval: the same logits for the module's step and for the reference


def fixed_batch() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (6, 1, 16, 16), dtype=torch.uint8, generator=gen)
    return images, torch.tensor([0, 0, 1, 2, 0, 1])


def losses(model: GrayscaleClassifier) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(training_step loss, validation loss, the logits) on the fixed batch."""
    batch = fixed_batch()
    with torch.no_grad():
        logits = model(batch[0])
        train = model.training_step(batch, 0)
        model.validation_step(batch, 0)
        model._update_metrics("val", model.val_metrics)  # what the epoch's end does
        val = model.stage_losses["val_loss"].compute()
    model.stage_losses["val_loss"].reset()
    model.val_metrics.reset()
    return train, val, logits


@pytest.mark.parametrize(
    ("weights", "smoothing"),
    [(None, 0.0), (WEIGHTS, 0.0), (None, SMOOTHING), (WEIGHTS, SMOOTHING)],
    ids=["plain", "weighted", "smoothed", "weighted_smoothed"],
)
def test_training_loss_uses_the_class_weights_and_the_label_smoothing(weights, smoothing):
    model = make_classifier(class_weights=weights, label_smoothing=smoothing)
    train, val, logits = losses(model)
    labels = fixed_batch()[1]
    weight = None if weights is None else torch.tensor(weights)
    expected = F.cross_entropy(logits, labels, weight=weight, label_smoothing=smoothing)
    assert train.item() == pytest.approx(expected.item(), abs=1e-6)
    # the validation loss is never weighted (it must compare across runs), but it is smoothed
    plain = F.cross_entropy(logits, labels, label_smoothing=smoothing)
    assert val.item() == pytest.approx(plain.item(), abs=1e-6)
    # each option really changes the number, so leaving one out cannot pass
    bare = F.cross_entropy(logits, labels)
    if weights is not None:
        unweighted = F.cross_entropy(logits, labels, label_smoothing=smoothing)
        assert abs(expected.item() - unweighted.item()) > 1e-2
    if smoothing:
        unsmoothed = F.cross_entropy(logits, labels, weight=weight)
        assert abs(expected.item() - unsmoothed.item()) > 1e-2
    if weights is None and not smoothing:
        assert expected.item() == pytest.approx(bare.item())


def test_the_config_reaches_the_loss_balance_loss_and_label_smoothing(tmp_path: Path):
    """`data.balance=loss` -> inverse-frequency weights over the training split (mean 1 over
    the classes), `label_smoothing=0.3` -> the module's smoothing; both in the training loss."""
    overrides = [
        "model=timm",
        "model.name=test_efficientnet",
        "model.pretrained=false",
        "data.image_size=16",
        "data.balance=loss",
        "label_smoothing=0.3",
        "seed=0",
    ]
    cfg = compose_config(overrides, tmp_path)
    data, model = build_data_and_model(cfg, Backbone("test_efficientnet", pretrained=False))
    counts = torch.bincount(torch.as_tensor(data.train_set.labels), minlength=10).double()
    expected_weights = counts.sum() / (counts * 10)  # every digit is present
    assert model.loss_weights is not None
    assert torch.allclose(model.loss_weights.double(), expected_weights, atol=1e-6)
    assert model.hparams.label_smoothing == 0.3

    model.eval()
    images, labels = next(iter(data.train_dataloader()))
    with torch.no_grad():
        logits = model(images)
        loss = model.training_step((images, labels), 0)
    expected = F.cross_entropy(logits, labels, weight=expected_weights.float(), label_smoothing=0.3)
    assert loss.item() == pytest.approx(expected.item(), abs=1e-6)
    assert loss.item() != pytest.approx(F.cross_entropy(logits, labels).item(), abs=1e-3)


def test_without_balance_or_smoothing_the_loss_is_plain(tmp_path: Path):
    cfg = compose_config(
        ["model=timm", "model.name=test_efficientnet", "model.pretrained=false"], tmp_path
    )
    _, model = build_data_and_model(cfg, Backbone("test_efficientnet", pretrained=False))
    assert model.loss_weights is None and model.hparams.label_smoothing == 0.0


def test_multiclass_state_has_no_thresholds_and_a_task_free_config_rebuilds_it(tmp_path: Path):
    """A multiclass model holds no `thresholds` buffer, so checkpoints written before tasks
    existed (no `task` in their config) still load strictly, as multiclass."""
    from graytransfer.model.build import build_classifier, build_task
    from graytransfer.task import MulticlassTask, MultiLabelTask

    cfg = compose_config(["model=timm", "model.name=test_efficientnet"], tmp_path)
    # what an old checkpoint stores: the resolved run config, without a task
    old = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
    del old["task"]
    assert isinstance(build_task(old), MulticlassTask)
    new = make_classifier()
    assert "thresholds" not in new.state_dict()
    backbone = Backbone("test_efficientnet", pretrained=False)
    rebuilt = build_classifier(old, backbone, class_names=["a", "b", "c"], image_size=(16, 16))
    rebuilt.load_state_dict(new.state_dict(), strict=True)
    cfg = compose_config(
        ["model=timm", "model.name=test_efficientnet", "task=multilabel"], tmp_path
    )
    multi = build_classifier(cfg, backbone, class_names=["a", "b", "c"], image_size=(16, 16))
    assert isinstance(multi.task, MultiLabelTask) and "thresholds" in multi.state_dict()


def test_binary_task_has_one_logit_and_predicts_the_positive_probability():
    from graytransfer.task import BinaryTask

    torch.manual_seed(0)
    model = GrayscaleClassifier(
        backbone=Backbone("test_efficientnet", pretrained=False),
        adapt=Repeat(),
        head=functools.partial(ClassifierHead),
        optimizer=functools.partial(torch.optim.AdamW),
        num_classes=2,
        class_names=["normal", "pneumonia"],
        task=BinaryTask(),
    ).eval()
    images, _ = fixed_batch()
    with torch.no_grad():
        logits = model(images)
        probs = model.predict_step(images, 0)
    assert logits.shape == (6, 1) and torch.allclose(probs, torch.sigmoid(logits))
    assert model.output_names == ["pneumonia"] and model.thresholds.tolist() == [0.5]
