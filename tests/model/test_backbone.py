"""Every model config builds and trains; names, tags, native sizes and mean/std come from timm."""

from __future__ import annotations

from functools import partial

import pytest
import torch
import torch.nn.functional as F
from helpers.configs import CONF
from hydra.utils import instantiate

from graytransfer.errors import UserError
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
#: deep ones take several seconds each to build and step on 2 CPU cores
SLOW = {"b5", "b6", "b7", "v2_m", "v2_l"}


def test_all_families_have_a_config() -> None:
    expected = {f"b{i}" for i in range(8)} | {f"lite{i}" for i in range(5)}
    expected |= {"v2_s", "v2_m", "v2_l", "v2_b0", "v2_b1", "v2_b2", "v2_b3", "timm"}
    assert expected <= set(MODELS)


def one_training_step(cfg, num_classes: int = 3) -> GrayscaleClassifier:
    """Build the real classifier from the composed config and take one optimiser step, seeded:
    the random init and images must not depend on the tests run before in the same process
    (under xdist, v2_l's stem gradient overflowed to inf for some inherited RNG states)."""
    torch.manual_seed(0)
    model = GrayscaleClassifier(
        backbone=instantiate(cfg.model),
        adapt=instantiate(cfg.adapt),
        head=instantiate(cfg.head),
        optimizer=partial(torch.optim.SGD, lr=1e-2),  # stateless: cheap for 100M params
        num_classes=num_classes,
        finetune=instantiate(cfg.finetune),
    )
    optimizer = model.configure_optimizers()["optimizer"]
    images = torch.randint(0, 256, (2, 1, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 2])
    before = model.head.classifier[-1].weight.detach().clone()
    loss = F.cross_entropy(model(images), labels)
    loss.backward()
    optimizer.step()
    assert torch.isfinite(loss)
    assert not torch.equal(before, model.head.classifier[-1].weight)
    stem = model.backbone.get_submodule(model.data_config.first_conv)
    assert stem.weight.grad is not None and torch.isfinite(stem.weight.grad).all()
    return model


@pytest.mark.parametrize(
    "name", [pytest.param(m, marks=pytest.mark.slow) if m in SLOW else m for m in MODELS]
)
def test_every_model_config_builds_and_trains_a_step(make_cfg, name: str) -> None:
    extra = ["model.name=resnet18"] if name == "timm" else []
    cfg = make_cfg(f"model={name}", "model.pretrained=false", "adapt=sum", *extra)
    model = one_training_step(cfg)
    # the strategy made the stem 1-channel; the model still knows its weights' native size
    assert model.backbone.get_submodule(model.data_config.first_conv).in_channels == 1
    assert min(model.data_config.input_size) >= 160


@pytest.mark.parametrize(
    ("name", "size", "mean", "timm_name"),
    [
        ("b0", 224, 0.485, "tf_efficientnet_b0.aa_in1k"),
        ("b5", 456, 0.485, "tf_efficientnet_b5.aa_in1k"),
        ("b7", 600, 0.485, "tf_efficientnet_b7.aa_in1k"),
        ("v2_s", 300, 0.5, "tf_efficientnetv2_s.in1k"),
        ("v2_l", 384, 0.5, "tf_efficientnetv2_l.in1k"),
        ("v2_b0", 192, 0.485, "tf_efficientnetv2_b0.in1k"),
        ("lite0", 224, 0.5, "tf_efficientnet_lite0.in1k"),
        ("lite4", 380, 0.5, "tf_efficientnet_lite4.in1k"),
    ],
)
def test_native_size_and_mean_std_come_from_the_pinned_tag(
    make_cfg, name: str, size: int, mean: float, timm_name: str
) -> None:
    backbone: Backbone = instantiate(make_cfg(f"model={name}").model)
    assert backbone.timm_name == timm_name
    assert backbone.native_size() == (size, size)
    data = backbone.data_config()
    assert data.mean[0] == pytest.approx(mean) and len(data.std) == 3
    assert data.first_conv == "conv_stem"


def test_keras_tag_and_other_tags_of_b0(make_cfg) -> None:
    # AdvProp weights expect inputs in [-1, 1]: the data config follows the chosen tag
    advprop: Backbone = instantiate(make_cfg("model=b0", "model.tag=ap_in1k").model)
    assert advprop.data_config().mean == (0.5, 0.5, 0.5)
    assert advprop.hub_id() == "timm/tf_efficientnet_b0.ap_in1k"


def test_any_timm_model_by_name_and_tag(make_cfg) -> None:
    backbone: Backbone = instantiate(make_cfg("model=timm", "model.name=resnet50.tv_in1k").model)
    assert (backbone.name, backbone.tag) == ("resnet50", "tv_in1k")
    assert backbone.data_config().first_conv == "conv1"
    default = Backbone("resnet50")
    assert default.tag is None and default.hub_id().startswith("timm/resnet50.")


def test_create_kwargs_reach_timm() -> None:
    net = Backbone("test_vit", pretrained=False, create_kwargs={"dynamic_img_size": True}).build()
    tokens = net.forward_features(torch.zeros(1, 3, 32, 32))
    assert tokens.ndim == 3
    # a model built at another size has that size as its native one
    assert Backbone("test_vit", create_kwargs={"img_size": 64}).native_size() == (64, 64)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "efficientnet_b99"}, "model.name: 'efficientnet_b99' is not a timm model"),
        ({"name": "tf_efficientnet_b0", "tag": "nope"}, "model.tag: 'nope' is not a pretrained"),
        ({"name": "resnet50.a1_in1k", "tag": "tv_in1k"}, "set one"),
    ],
)
def test_bad_names_and_tags_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        Backbone(**kwargs)


def test_packaged_weights_only_for_lite0_to_lite2() -> None:
    with pytest.raises(UserError, match=r"packaged holds weights of \['tf_efficientnet_lite0', "):
        Backbone("tf_efficientnet_b0", weights="packaged").build()
