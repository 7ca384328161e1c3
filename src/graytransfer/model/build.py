"""The one recipe that builds the data module and the classifier a composed config describes,
and checks that the backbone takes the image size.

Training (`graytransfer.run.pipeline`), restoring a checkpoint (`graytransfer.model.restore`) and
the benchmarks all build through `build_classifier`, so they hold the very same network,
optimizer groups and schedule. The image size is resolved here once (`native` -> the weights'
own size) and handed to the data module and the classifier alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from graytransfer.adapt.intensity import InputValues
from graytransfer.config import data_choice
from graytransfer.data.base import NATIVE, GrayscaleDataModule, as_size
from graytransfer.data.fold_sets import hold_out_fold
from graytransfer.data.split.folds import CrossValidation
from graytransfer.errors import UserError
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.task import MulticlassTask, Task


def build_task(cfg: DictConfig) -> Task:
    """The task of `cfg` (`task=multiclass|multilabel|binary`); a config without one (written
    before tasks existed) is multiclass."""
    return instantiate(cfg.task) if cfg.get("task") else MulticlassTask()


def resolve_image_size(cfg: DictConfig, backbone: Backbone) -> tuple[int, int]:
    """`data.image_size` as (H, W): an int, a pair, or `native` (the weights' own size)."""
    size = cfg.data.get("image_size", NATIVE) if cfg.get("data") else NATIVE
    if size == NATIVE:
        return backbone.native_size()
    return as_size(OmegaConf.to_object(size) if OmegaConf.is_config(size) else size)


def input_values_of(data: GrayscaleDataModule) -> InputValues:
    """What a set-up data module hands the model: its typed `pixel_values` (dtype, measured
    value range, DICOM window), which every `GrayscaleDataModule` has. Anything else is a
    TypeError: there is no silent 8-bit fallback."""
    if not isinstance(data, GrayscaleDataModule):
        raise TypeError(
            f"{type(data).__name__} is not a GrayscaleDataModule: the model needs its "
            "pixel_values (dtype, value range, DICOM window); derive the data module from "
            "graytransfer.data.GrayscaleDataModule"
        )
    values = data.pixel_values
    dtype = str(values.dtype).removeprefix("torch.")
    return InputValues(dtype, values.value_range, values.voi_window)


def build_classifier(
    cfg: DictConfig,
    backbone: Backbone,
    *,
    class_names: Sequence[str],
    image_size: Sequence[int],
    class_weights: list[float] | None = None,
    for_training: bool = True,
    input_values: InputValues | None = None,
) -> GrayscaleClassifier:
    """The `GrayscaleClassifier` of `cfg` (its adapt, head, optim, scheduler, finetune and
    label smoothing) on `backbone`, for `class_names`, at `image_size`.

    `for_training=False` (a restored model for evaluation, prediction or export) leaves out the
    fine-tuning options (no compile, no frozen BatchNorm) and the loss class weights.
    `input_values` (`input_values_of(data)`) sizes the intensity mapping; None when restoring."""
    finetune = cfg.get("finetune") if for_training else None
    task = build_task(cfg)
    return GrayscaleClassifier(
        backbone=backbone,
        adapt=instantiate(cfg.adapt),
        head=instantiate(cfg.head),
        optimizer=instantiate(cfg.optim),
        scheduler=instantiate(cfg.scheduler) if cfg.get("scheduler") else None,
        num_classes=len(class_names),
        class_names=list(class_names),
        label_smoothing=float(cfg.get("label_smoothing", 0.0)),
        config=OmegaConf.to_container(cfg, resolve=True),
        finetune=instantiate(finetune) if finetune else None,
        class_weights=class_weights if for_training else None,
        image_size=tuple(int(v) for v in image_size),
        task=task,
        intensity=instantiate(cfg.intensity) if cfg.get("intensity") else None,
        input_values=input_values,
    )


def build_data(cfg: DictConfig, image_size: tuple[int, int]) -> GrayscaleDataModule:
    """Instantiate the data module at `image_size` (see `resolve_image_size`) and set it up."""
    seed = cfg.seed if cfg.seed is not None else 0
    data = instantiate(cfg.data, image_size=list(image_size), seed=seed)
    data.prepare_data()
    data.setup("fit")
    hold_out_fold(data, CrossValidation.of(cfg))  # cv.folds/cv.fold: val = that fold
    build_task(cfg).check_data(data.class_names, data.train_set.labels, f"data={data_choice(cfg)}")
    if data.num_classes < 2:
        raise UserError(
            f"data: found {data.num_classes} class(es) {data.class_names}; a classifier needs at "
            "least 2: give every class its own sub-folder (or label) with images"
        )
    return data


def build_data_and_model(
    cfg: DictConfig, backbone: Backbone
) -> tuple[GrayscaleDataModule, GrayscaleClassifier]:
    """The data module (set up) and the classifier of `cfg`, at its resolved image size, for
    the data's classes and loss class weights."""
    image_size = resolve_image_size(cfg, backbone)
    data = build_data(cfg, image_size)
    input_values = input_values_of(data)
    class_weights = data.loss_class_weights()
    model = build_classifier(
        cfg,
        backbone,
        class_names=data.class_names,
        image_size=image_size,
        class_weights=class_weights,
        input_values=input_values,
    )
    return data, model


def check_input_size(model: torch.nn.Module, size: tuple[int, int], model_name: str) -> None:
    """Run one blank uint8 image of `size` (H, W) through `model` and fail clearly if the
    backbone cannot take it (fixed-size transformers, sizes below what the stem can reduce)."""
    height, width = size
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            blank = torch.zeros(1, 1, height, width, dtype=torch.uint8)
            if all(hasattr(model, part) for part in ("input_adapter", "backbone", "head")):
                # the plain path: never trigger a `finetune.compile` compilation for this probe
                model.head(model.backbone.forward_features(model.input_adapter(blank)))
            else:
                model(blank)
    except (RuntimeError, ValueError, AssertionError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(
            f"data.image_size {[height, width]} is too small or the wrong shape for model "
            f"'{model_name}' ({reason}); use data.image_size=native (the model's own size) or a "
            "larger size"
        ) from err
    finally:
        model.train(was_training)
