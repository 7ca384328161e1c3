"""InputPreview: what the backbone sees, as PNGs in the run folder and images in W&B.

At the start of training it renders a few validation (else training) images through the model's
input module and its (patched) stem (see `graytransfer.adapt.preview`): for every strategy, stem
strategies (`sum`, `fold`, ...) included, with labelled columns. For strategies with learned
input parameters (`adapter`, `windows`) it renders them again at the end, so the run shows what
was learned. Cheap (a handful of images, no gradients, rank 0 only) and logger-agnostic: the
PNGs are always written, W&B gets them when a W&B logger is attached (the column labels in the
caption).
"""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities import rank_zero_warn

from graytransfer.adapt.preview import render_preview


class InputPreview(L.Callback):
    """Saves `<dirpath>/start.png` (and `end.png` for learned input modules) and logs them to W&B
    as `preview/start` / `preview/end`. `num_images` rows, taken from the start of the data."""

    def __init__(self, dirpath: str | Path = "preview", num_images: int = 6) -> None:
        self.dirpath = Path(dirpath)
        self.num_images = int(num_images)
        self.images: torch.Tensor | None = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._render(trainer, pl_module, "start")

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        adapter = getattr(pl_module, "input_adapter", None)
        if adapter is not None and any(p.requires_grad for p in adapter.parameters()):
            self._render(trainer, pl_module, "end")

    def _render(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        adapter = getattr(pl_module, "input_adapter", None)
        data_config = getattr(pl_module, "data_config", None)
        if not trainer.is_global_zero or adapter is None or data_config is None:
            return
        if self.images is None:
            self.images = first_images(trainer.datamodule, self.num_images)
        if self.images is None:
            rank_zero_warn("InputPreview: the data module has no images to preview; skipped")
            return
        preview = render_preview(
            adapter,
            self.images,
            data_config.mean,
            data_config.std,
            self.dirpath / f"{stage}.png",
            backbone=getattr(pl_module, "backbone", None),
            first_conv=data_config.first_conv,
        )
        strategy = getattr(pl_module, "strategy_name", "")
        caption = f"{strategy} ({stage}): " + " | ".join(preview.columns)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key=f"preview/{stage}", images=[preview.grid], caption=[caption])


def first_images(datamodule, count: int) -> torch.Tensor | None:
    """The first `count` uint8 (1, H, W) images of the validation set, else the training set."""
    for name in ("val_set", "train_set"):
        dataset = getattr(datamodule, name, None)
        if dataset is not None and len(dataset) > 0:
            items = [dataset[i] for i in range(min(count, len(dataset)))]
            return torch.stack(
                [item[0] if isinstance(item, (tuple, list)) else item for item in items]
            )
    return None
