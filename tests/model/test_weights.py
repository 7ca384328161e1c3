"""Weight sources: packaged Lite0-Lite2 (ImageNet weights), files, safety, offline errors."""

from __future__ import annotations

import pickle
import time
from functools import partial
from pathlib import Path

import lightning as L
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import save_file
from skimage import data as skimage_data
from sklearn.datasets import load_sample_image
from timm.data import ImageNetInfo
from torch.utils.data import DataLoader, TensorDataset

from graytransfer.adapt.repeat import Repeat
from graytransfer.adapt.sum import Sum
from graytransfer.errors import UserError
from graytransfer.model import weights as W
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.head import ClassifierHead

PHOTOS = {  # scikit-learn's and scikit-image's bundled photos
    "china": lambda: load_sample_image("china.jpg"),
    "chelsea": skimage_data.chelsea,
    "coffee": skimage_data.coffee,
}
#: photo -> words of which one must be in a class name among the top 3 (chelsea is a cat)
EXPECTED = {
    "china": ("palace",),
    "chelsea": ("tabby", "tiger cat", "Egyptian cat"),
    "coffee": ("espresso",),
}


def center_crop(photo: str, size: int, crop_pct: float) -> Image.Image:
    """timm's eval transform: shorter side to size / crop_pct (bicubic), centre crop."""
    img = Image.fromarray(PHOTOS[photo]())
    scale = (size / crop_pct) / min(img.size)
    img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BICUBIC)
    left, top = (img.width - size) // 2, (img.height - size) // 2
    return img.crop((left, top, left + size, top + size))


def imagenet_classifier(architecture: str) -> GrayscaleClassifier:
    """The project's own path: packaged weights -> Backbone.build -> repeat -> a 1000-class head
    holding the packaged file's own classifier."""
    head = partial(ClassifierHead, pool="avg", drop_rate=0.0)
    model = GrayscaleClassifier(
        backbone=Backbone(architecture, weights="packaged"),
        adapt=Repeat(),
        head=head,
        optimizer=partial(torch.optim.SGD, lr=0.1),
        num_classes=1000,
    ).eval()
    state = W.packaged_state(architecture)
    fc = model.head.classifier[-1]
    fc.weight.data.copy_(state["_fc.weight"])
    fc.bias.data.copy_(state["_fc.bias"])
    return model


@pytest.fixture(scope="module")
def imagenet_lite0() -> GrayscaleClassifier:
    return imagenet_classifier("tf_efficientnet_lite0")


@pytest.mark.parametrize("architecture", sorted(W.PACKAGED_WEIGHTS))
def test_packaged_weights_classify_sample_photos(architecture: str) -> None:
    """Each packaged Lite, at its native size, names the bundled photos from the grayscale
    photo (repeat) and from the colour photo."""
    model = imagenet_classifier(architecture)
    cfg = model.backbone.pretrained_cfg
    size, crop_pct = cfg["input_size"][1], cfg["crop_pct"]
    info = ImageNetInfo()
    for photo, words in EXPECTED.items():
        img = center_crop(photo, size, crop_pct)
        gray = torch.from_numpy(np.asarray(img.convert("L")).copy())[None, None]
        rgb = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)[None].float() / 255
        with torch.no_grad():
            gray_top3 = model(gray).topk(3).indices[0].tolist()
            rgb_top3 = model.head(model.backbone.forward_features((rgb - 0.5) / 0.5))
            rgb_top3 = rgb_top3.topk(3).indices[0].tolist()
        for source, top3 in (("gray", gray_top3), ("rgb", rgb_top3)):
            names = [info.index_to_description(i) for i in top3]
            assert any(w in n for w in words for n in names), (architecture, photo, source, names)


def small_state(seed: int = 0) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = Backbone("test_efficientnet", pretrained=False).build()
    return {k: v.clone() for k, v in net.state_dict().items()}


def assert_loaded(net: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = net.state_dict()
    assert set(own) == set(state)
    assert all(torch.equal(own[k], state[k]) for k in own)


def test_local_safetensors_loads_and_adapts_to_one_channel(tmp_path: Path) -> None:
    state = small_state()
    path = tmp_path / "weights.safetensors"
    save_file(state, str(path))
    backbone = Backbone("test_efficientnet", weights=str(path))
    net = backbone.build()
    assert_loaded(net, state)
    Sum().adapt(net, backbone.data_config(net))
    assert net.conv_stem.weight.shape[1] == 1
    torch.testing.assert_close(net.conv_stem.weight, state["conv_stem.weight"].sum(1, keepdim=True))


@pytest.mark.parametrize("wrapper", ["raw", "timm", "ddp"])
def test_local_pth_loads_raw_and_checkpoint_layouts(tmp_path: Path, wrapper: str) -> None:
    state = small_state(1)
    path = tmp_path / "weights.pth"
    if wrapper == "raw":
        torch.save(state, path)
    elif wrapper == "timm":  # timm's train.py: args as a Namespace, EMA weights beside
        import argparse

        args = argparse.Namespace(model="test_efficientnet", lr=0.1)
        torch.save({"epoch": 3, "arch": "x", "args": args, "state_dict": state}, path)
    else:
        torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, path)
    net = Backbone("test_efficientnet", weights=str(path)).build()
    assert_loaded(net, state)


def test_imagenet_classifier_in_the_file_is_ignored(tmp_path: Path) -> None:
    torch.manual_seed(2)
    full = Backbone("test_efficientnet", pretrained=False)._create(False, num_classes=1000)
    path = tmp_path / "with_classifier.bin"
    torch.save(full.state_dict(), path)
    net = Backbone("test_efficientnet", weights=str(path)).build()
    torch.testing.assert_close(net.conv_stem.weight, full.conv_stem.weight)


def digits_loader(n: int = 8) -> DataLoader:
    images = torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8)
    return DataLoader(TensorDataset(images, torch.arange(n) % 2), batch_size=4)


def test_own_lightning_checkpoint_gives_its_backbone(tmp_path: Path) -> None:
    """A checkpoint of a grayscale run (keys `backbone.*`, a 1-channel stem from `sum`) loads
    with weights_only=True, keeps only the backbone, and `sum` gives back the same stem."""
    model = GrayscaleClassifier(
        backbone=Backbone("test_efficientnet", pretrained=False),
        adapt=Sum(),
        head=partial(ClassifierHead),
        optimizer=partial(torch.optim.SGD, lr=0.1),
        num_classes=2,
        config={"model": {"name": "test_efficientnet"}},
    )
    trainer = L.Trainer(
        max_steps=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, train_dataloaders=digits_loader())
    path = tmp_path / "run.ckpt"
    trainer.save_checkpoint(path)
    trained = {k: v.clone() for k, v in model.backbone.state_dict().items()}

    backbone = Backbone("test_efficientnet", weights=str(path))
    net = backbone.build()
    assert net.conv_stem.weight.shape[1] == 3  # spread back: a third per channel
    Sum().adapt(net, backbone.data_config(net))
    for key, value in net.state_dict().items():
        torch.testing.assert_close(value, trained[key])


class NotATensor:
    """Any class: unpickling it means importing and running code named by the file."""

    def __init__(self) -> None:
        self.payload = "anything"


def test_pickle_with_custom_class_is_refused_unless_trusted(tmp_path: Path) -> None:
    state = small_state()
    path = tmp_path / "unsafe.pth"
    torch.save({"state_dict": state, "extra": NotATensor()}, path)
    with pytest.raises(UserError) as err:
        Backbone("test_efficientnet", weights=str(path)).build()
    message = str(err.value)
    assert "model.trust_checkpoint=true" in message and "NotATensor" in message
    assert isinstance(err.value.__cause__, pickle.UnpicklingError)
    net = Backbone("test_efficientnet", weights=str(path), trust_checkpoint=True).build()
    assert_loaded(net, state)


def test_mismatched_weights_name_the_first_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet.safetensors"
    save_file(Backbone("test_resnet", pretrained=False).build().state_dict(), str(path))
    with pytest.raises(UserError, match=r"missing keys \['conv_stem.weight'.*unexpected keys"):
        Backbone("test_efficientnet", weights=str(path)).build()
    lite = tmp_path / "lite2.safetensors"
    save_file(Backbone("tf_efficientnet_lite2", pretrained=False).build().state_dict(), str(lite))
    with pytest.raises(UserError, match=r"shape mismatch at '[a-z_.0-9]+' \(\("):
        Backbone("tf_efficientnet_lite0", weights=str(lite)).build()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"not a checkpoint", "cannot read"), (None, "does not exist")],
)
def test_unreadable_or_missing_file_is_named(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "weights.pth"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=message):
        Backbone("test_efficientnet", weights=str(path)).build()


def test_offline_without_cached_weights_fails_fast_with_one_message(
    make_cfg, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from graytransfer.run import train

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "empty"))
    cfg = make_cfg("model=b5", "logger=none")
    started = time.perf_counter()
    with pytest.raises(UserError) as err:
        train(cfg)
    assert time.perf_counter() - started < 5
    message = str(err.value)
    assert "tf_efficientnet_b5.aa_in1k" in message and "timm/tf_efficientnet_b5.aa_in1k" in message
    assert "HF_HUB_OFFLINE" in message
    for way in ("online", "model.weights=PATH", "model.pretrained=false"):
        assert way in message


def test_hub_weights_in_the_cache_count_as_available(tmp_path, monkeypatch) -> None:
    """A cache laid out as huggingface_hub writes it satisfies the check with no network."""
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    repo = tmp_path / "models--timm--tf_efficientnet_b0.aa_in1k"
    snapshot = repo / "snapshots" / ("0" * 40)
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    save_file({"x": torch.zeros(1)}, str(snapshot / "model.safetensors"))
    Backbone("tf_efficientnet_b0", tag="aa_in1k").check_weights_available()
    with pytest.raises(UserError, match="tf_efficientnet_b1"):
        Backbone("tf_efficientnet_b1", tag="aa_in1k").check_weights_available()


def test_model_without_pretrained_weights_says_so() -> None:
    with pytest.raises(UserError, match="timm has no pretrained weights for .cspresnet50d"):
        Backbone("cspresnet50d").check_weights_available()


def test_cross_entropy_on_packaged_features_is_finite(imagenet_lite0) -> None:
    images = torch.randint(0, 256, (2, 1, 64, 64), dtype=torch.uint8)
    loss = F.cross_entropy(imagenet_lite0(images), torch.tensor([1, 2]))
    assert torch.isfinite(loss)


def test_hub_weights_are_checked_once_per_backbone(monkeypatch) -> None:
    """The run checks before reading data and `build()` checks again: one network probe."""
    probes = []
    monkeypatch.setattr(W, "hub_weights_cached", lambda *args: False)
    monkeypatch.setattr(W, "hub_reachable", lambda *args: probes.append(1) or True)
    backbone = Backbone("tf_efficientnet_b0", tag="aa_in1k")
    backbone.check_weights_available()
    backbone.check_weights_available()
    assert len(probes) == 1
    monkeypatch.setattr(W, "hub_reachable", lambda *args: False)
    with pytest.raises(UserError, match="tf_efficientnet_b1"):  # a failed check is not cached
        Backbone("tf_efficientnet_b1", tag="aa_in1k").check_weights_available()
