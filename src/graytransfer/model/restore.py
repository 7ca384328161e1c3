"""Rebuild a trained classifier from its checkpoint alone (no config files, no network).

The resolved run config stored in the checkpoint rebuilds the same backbone, strategy, head and
task through the one recipe (`graytransfer.model.build`) with `pretrained=false` (no weights are
fetched), then the checkpoint's state dict fills every parameter and buffer, the input module's
mean/std and a multilabel/binary task's decision thresholds included. A checkpoint written
before tasks existed has no `task` in its config and is multiclass.

The stored config is data from a file, so it decides no code: `graytransfer.model.stored_config`
checks every `_target_` in it against the project's conf tree, and refuses interpolations, before
anything is instantiated (see that module). `TrainedModel.config` is that checked config, so the
tools that build from it (evaluate's data module) build only what the conf tree names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.utils import instantiate

from graytransfer.errors import UserError
from graytransfer.model.build import build_classifier
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.stored_config import checked_config


@dataclass(frozen=True)
class TrainedModel:
    """A classifier in eval mode and what its checkpoint says about its input and output."""

    model: GrayscaleClassifier
    config: dict[str, Any]
    class_names: list[str]
    image_size: tuple[int, int]
    model_name: str
    strategy: str
    source: Path

    @property
    def task(self) -> str:
        """`multiclass`, `multilabel` or `binary` (a checkpoint from before tasks: multiclass)."""
        return self.model.task.name

    @property
    def output_names(self) -> list[str]:
        """A name per output column: the classes, the labels, or a binary task's positive."""
        return list(self.model.output_names)

    @property
    def thresholds(self) -> list[float] | None:
        """The decision thresholds chosen on the validation split and saved in the checkpoint
        (multilabel, binary); None for multiclass (the argmax decides)."""
        thresholds = self.model.thresholds
        return None if thresholds is None else [float(v) for v in thresholds.tolist()]


def image_size_of(checkpoint: dict[str, Any], config: dict[str, Any], source: Path) -> tuple:
    """The (H, W) the model was trained at, as recorded in the checkpoint."""
    size = (checkpoint.get("graytransfer") or {}).get("image_size")
    if size is None:
        size = (config.get("data") or {}).get("image_size")
    if isinstance(size, int):
        size = [size, size]
    if not isinstance(size, (list, tuple)) or len(size) != 2:
        raise UserError(f"checkpoint '{source}' does not record the image size it was trained at")
    return int(size[0]), int(size[1])


def load_trained(ckpt_path: str | Path) -> TrainedModel:
    """The classifier saved in `ckpt_path`, rebuilt offline and in eval mode.

    Raises UserError (one line) for a file that is not a graytransfer checkpoint, and before
    anything is instantiated for a stored config naming a `_target_` the conf tree does not name
    or holding an interpolation (`graytransfer.model.stored_config`)."""
    source = Path(str(ckpt_path)).expanduser()
    checkpoint = read_checkpoint(source)
    hparams = checkpoint.get("hyper_parameters") or {}
    config = hparams.get("config")
    cfg = checked_config(config, source)  # nothing is instantiated before this check
    cfg.model.pretrained = False  # the state dict below holds every weight
    num_classes = int(hparams["num_classes"])
    names = list(hparams.get("class_names") or [str(i) for i in range(num_classes)])
    size = image_size_of(checkpoint, config, source)
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=names, image_size=size, for_training=False
    )
    try:
        model.load_state_dict(checkpoint["state_dict"], strict=True)
    except RuntimeError as err:
        first = str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else str(err)
        raise UserError(
            f"checkpoint '{source}' does not fit the model its config describes ({first}); it was "
            "written by another version of the model code"
        ) from err
    model.eval()
    return TrainedModel(
        model=model,
        config=config,
        class_names=names,
        image_size=size,
        model_name=str(cfg.model.name),
        strategy=model.strategy_name,
        source=source,
    )
