"""Class activation maps with pytorch-grad-cam, through the model's own input module.

`activation_maps(classifier, images, ...)` maps a uint8 (N, 1, H, W) batch to one map per image
(N, H, W) in [0, 1]: pytorch-grad-cam sees `FloatInput(classifier)`, a model taking the
float-cast image on the 0..255 scale, so every adaptation strategy (also those that patch the stem,
`fold`/`sum`/`stack`, and learned ones like `windows`) is part of what is explained. The target
layer is the backbone's last feature stage from timm's `feature_info` (override with `layer`).
`save_overlay` / `save_grid` (graytransfer.callbacks.map_drawing) draw the maps over the gray
image. `ActivationMaps` (the callback)
writes and logs maps for the first `per_class` test images of each class at the end of testing.
`python -m graytransfer.tools.explain` is the command-line side.

Tasks: multiclass (a map per class, softmax probabilities) and binary (its one logit explained
for the positive class, its negation for the negative one; probabilities [1 - p, p], the
predicted class decided at the model's validation threshold). A multilabel model is refused in
one line (`check_task`) before any work: it has no single class per image to explain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.loggers import WandbLogger
from torch import nn

from graytransfer.callbacks.map_drawing import save_grid, save_overlay
from graytransfer.errors import UserError

#: method name -> pytorch-grad-cam class name
METHODS = {
    "gradcam": "GradCAM",
    "gradcampp": "GradCAMPlusPlus",
    "eigencam": "EigenCAM",
    "scorecam": "ScoreCAM",
}


class FloatInput(nn.Module):
    """The classifier as pytorch-grad-cam sees it: float (N, 1, H, W) on the 0..255 scale ->
    logits, through the classifier's own input module (it casts uint8 to float anyway)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images)


def target_layer(classifier: nn.Module, layer: str | None = None) -> tuple[str, nn.Module]:
    """(name, module) of the layer whose activations are explained: `layer` (a module name
    inside the backbone, or inside the whole classifier), else the last stage of the backbone's
    timm `feature_info`. Raises UserError naming `layer=` when neither finds a module."""
    backbone = classifier.backbone
    inside = dict(backbone.named_modules())
    if layer:
        found = inside.get(layer) or dict(classifier.named_modules()).get(layer)
        if found is None or layer == "":
            children = [n for n, _ in backbone.named_children()]
            raise UserError(
                f"layer: '{layer}' is not a module of the backbone "
                f"{type(backbone).__name__}; name one of its modules, e.g. {children}"
            )
        return layer, found
    info = getattr(backbone, "feature_info", None)
    stages = (
        [i.get("module") for i in info if isinstance(i, dict)] if isinstance(info, list) else []
    )
    if not stages or stages[-1] not in inside:
        children = [n for n, _ in backbone.named_children()]
        raise UserError(
            f"layer: the backbone {type(backbone).__name__} has no timm feature_info naming its "
            f"last stage; set layer=MODULE (one of its modules, e.g. {children})"
        )
    return stages[-1], inside[stages[-1]]


def _to_grid(image_size: tuple[int, int], channels: int | None, reduction: int | None) -> Callable:
    """pytorch-grad-cam's reshape_transform: activations as (N, C, h, w). Token sequences
    (N, T, C) of a ViT lose their prefix tokens and become the (H/reduction, W/reduction) grid;
    channels-last (N, h, w, C) maps are permuted."""

    def reshape(x: torch.Tensor) -> torch.Tensor:
        if x.ndim == 3 and reduction:
            h, w = (math.ceil(s / reduction) for s in image_size)
            x = x[:, -h * w :, :]
            return x.reshape(x.shape[0], h, w, x.shape[-1]).permute(0, 3, 1, 2)
        if x.ndim == 4 and channels and x.shape[1] != channels and x.shape[-1] == channels:
            return x.permute(0, 3, 1, 2)
        return x

    return reshape


def activation_maps(
    classifier: nn.Module,
    images: torch.Tensor,
    method: str = "gradcam",
    targets: Sequence[int] | None = None,
    layer: str | None = None,
) -> tuple[np.ndarray, torch.Tensor]:
    """(maps, probabilities): float32 maps (N, H, W) in [0, 1] for the uint8 `images`
    (N, 1, H, W), each for its class in `targets` (default: the predicted class,
    `predicted_classes`), and the class probabilities (N, num_classes) of the same forward pass
    (`class_probabilities`). The classifier is put in eval mode and left with no gradients
    (a frozen backbone is explained too); this works inside Lightning's inference mode too."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import (
        BinaryClassifierOutputTarget,
        ClassifierOutputTarget,
    )

    if method not in METHODS:
        raise UserError(f"method: '{method}' is not one of {list(METHODS)}")
    name, module = target_layer(classifier, layer)
    channels, reduction = stage_info(classifier.backbone, name)
    classifier.eval()
    target_class = BinaryClassifierOutputTarget if is_binary(classifier) else ClassifierOutputTarget
    with torch.inference_mode(False), torch.enable_grad():
        batch = images.clone().float().to(next(classifier.parameters()).device)
        with torch.no_grad():
            probabilities = class_probabilities(classifier, classifier(batch)).cpu()
        if targets is None:
            chosen = predicted_classes(classifier, probabilities).tolist()
        else:
            chosen = list(targets)
        # a frozen backbone (callbacks.freeze_backbone) behind an input module that passes no
        # gradient from the input (adapt=colormap's lookup table) leaves the layer's activations
        # without one: every parameter requires a gradient while the maps are made, as before
        frozen = [p for p in classifier.parameters() if not p.requires_grad]
        batch.requires_grad_(True)
        cam_class = getattr(pytorch_grad_cam, METHODS[method])
        reshape = _to_grid(tuple(images.shape[-2:]), channels, reduction)
        try:
            for parameter in frozen:
                parameter.requires_grad_(True)
            with cam_class(FloatInput(classifier), [module], reshape_transform=reshape) as cam:
                if method == "scorecam":
                    cam.batch_size = 32
                maps = cam(batch, targets=[target_class(int(c)) for c in chosen])
        finally:
            for parameter in frozen:
                parameter.requires_grad_(False)
    classifier.zero_grad(set_to_none=True)
    return np.nan_to_num(maps.astype(np.float32)), probabilities


def stage_info(backbone: nn.Module, name: str) -> tuple[int | None, int | None]:
    """(channels, reduction) of the feature_info stage `name`; (None, None) for another layer."""
    info = getattr(backbone, "feature_info", None)
    for item in info if isinstance(info, list) else []:
        if isinstance(item, dict) and item.get("module") == name:
            return item.get("num_chs"), item.get("reduction")
    return None, None


def task_of(model: nn.Module) -> str:
    """The model's task name (`multiclass` for a model without one)."""
    return str(getattr(getattr(model, "task", None), "name", "") or "multiclass")


def is_binary(model: nn.Module) -> bool:
    return task_of(model) == "binary"


def class_probabilities(model: nn.Module, logits: torch.Tensor) -> torch.Tensor:
    """(N, num_classes) class probabilities: the softmax, or for a binary model's one logit
    the two columns [1 - p, p]."""
    if is_binary(model):
        positive = logits.sigmoid()
        return torch.cat([1 - positive, positive], dim=-1)
    return logits.softmax(dim=-1)


def predicted_classes(model: nn.Module, probabilities: torch.Tensor) -> torch.Tensor:
    """The class index each image is decided as: the argmax, or for a binary model the positive
    class where its probability reaches the model's validation threshold."""
    thresholds = getattr(model, "thresholds", None)
    if is_binary(model) and thresholds is not None:
        return (probabilities[:, 1] >= float(thresholds[0])).long()
    return probabilities.argmax(dim=-1)


def check_task(model: nn.Module, where: str) -> None:
    """A one-line UserError for a model whose task has no single class per image to explain
    (`task=multilabel`); multiclass and binary models pass."""
    task = task_of(model)
    if task not in SUPPORTED_TASKS:
        raise UserError(
            f"{where}: activation maps are drawn for task=multiclass or binary models (one class "
            f"per image); this model is task={task} (remove the activation_maps callback, or map "
            "a multiclass or binary model)"
        )


#: the tasks whose models the maps explain
SUPPORTED_TASKS = ("multiclass", "binary")


class ActivationMaps(L.Callback):
    """After `trainer.test`: maps for the first `per_class` test images of each class (the test
    loader is not shuffled, so the sample is fixed), written as `{dirpath}/grid.png` and one PNG
    per image, and logged to W&B as `test/activation_maps` (one `wandb.Image` per image,
    captioned with the true and predicted class). Rank 0 uses the images of its own shard."""

    def __init__(
        self, dirpath: str, per_class: int = 2, method: str = "gradcam", layer: str | None = None
    ) -> None:
        if method not in METHODS:
            raise UserError(
                f"callbacks.activation_maps.method: '{method}' is not one of {list(METHODS)}"
            )
        if per_class < 1:
            raise UserError(f"callbacks.activation_maps.per_class: {per_class} must be >= 1")
        self.dirpath = Path(dirpath)
        self.per_class = int(per_class)
        self.method = method
        self.layer = layer
        self._images: dict[int, list[torch.Tensor]] = {}

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        check_task(pl_module, "callbacks.activation_maps")

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._images = {}

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        images, labels = batch[0], batch[1]
        for image, label in zip(images, labels.tolist(), strict=True):
            kept = self._images.setdefault(int(label), [])
            if len(kept) < self.per_class:
                kept.append(image.detach().cpu().clone())

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.is_global_zero or not self._images:
            return
        labels = [c for c in sorted(self._images) for _ in self._images[c]]
        images = torch.stack([img for c in sorted(self._images) for img in self._images[c]])
        self._images = {}
        maps, probabilities = activation_maps(pl_module, images, self.method, layer=self.layer)
        names = list(pl_module.hparams.get("class_names") or [])
        name = lambda i: names[i] if i < len(names) else str(i)  # noqa: E731
        predicted = predicted_classes(pl_module, probabilities).tolist()
        titles = [
            f"true {name(t)} / pred {name(p)} {probabilities[i, p]:.2f}"
            for i, (t, p) in enumerate(zip(labels, predicted, strict=True))
        ]
        paths = [
            save_overlay(self.dirpath / f"{i:03d}_{name(t)}.png", images[i], maps[i], titles[i])
            for i, t in enumerate(labels)
        ]
        save_grid(self.dirpath / "grid.png", images, maps, titles)
        np.save(self.dirpath / "maps.npy", maps)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(
                    key="test/activation_maps", images=[str(p) for p in paths], caption=titles
                )
