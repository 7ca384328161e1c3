"""The test confusion matrix of a run: `confusion_matrix.png` (+ `.csv`) in its folder and in W&B.

A callback, so the module stays unaware of it: a forward hook on the module's head catches the
logits of each test batch (the head runs once per forward, also under DDP's forward
redirection), a torchmetrics confusion matrix accumulates them (and syncs across DDP ranks), and
rank 0 writes the files at the end of the test epoch.

Every task is supported (`graytransfer.task`):
- multiclass: the class x class matrix of the argmax decisions;
- binary: the 2x2 matrix of its two classes, decided at the model's validation threshold (the
  same picture and CSV as a two-class multiclass run);
- multilabel: one 2x2 matrix per output at the model's decision thresholds
  (`confusion_matrix.csv`: label, tn, fp, fn, tp; the PNG shows them side by side; unknown labels
  are left out).
A binary or multilabel run also logs W&B a `test/per_label` table of each output's AUROC, AP, F1
and prevalence (`graytransfer.callbacks.label_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger
from torchmetrics import Metric
from torchmetrics.classification import (
    BinaryConfusionMatrix,
    MulticlassConfusionMatrix,
    MultilabelConfusionMatrix,
)

from graytransfer.callbacks.label_table import log_label_table, save_label_matrices


class TestConfusionMatrix(L.Callback):
    """Writes `{output_dir}/confusion_matrix.png` and `.csv` (rows: true class, columns:
    predicted) after `trainer.test`, and logs the image to W&B as `test/confusion_matrix`."""

    def __init__(self, output_dir: str, filename: str = "confusion_matrix") -> None:
        self.output_dir = Path(output_dir)
        self.filename = filename
        self._matrix: Metric | None = None
        self._hook: Any = None
        self._logits: torch.Tensor | None = None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._matrix = confusion_metric(pl_module).to(pl_module.device)
        head = getattr(pl_module, "head", pl_module)
        self._hook = head.register_forward_hook(self._catch_logits)

    def _catch_logits(self, module: Any, inputs: Any, output: Any) -> None:
        if isinstance(output, torch.Tensor) and output.ndim == 2:
            self._logits = output.detach()

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if self._logits is not None and self._matrix is not None:
            if self._thresholded(pl_module):
                task = pl_module.task
                decided = task.decide(task.probabilities(self._logits), pl_module.thresholds)
                targets = task.targets(batch[1])
                if isinstance(self._matrix, BinaryConfusionMatrix):  # one output: (N, 1) -> (N,)
                    decided, targets = decided[:, 0], targets[:, 0]
                self._matrix.update(decided, targets)
            else:
                self._matrix.update(self._logits.argmax(dim=-1), batch[1])
            self._logits = None

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._matrix is None:
            return
        matrix = self._matrix.compute().cpu()  # all ranks take part in the sync
        self._matrix = None
        if not trainer.is_global_zero:
            return
        png = self.output_dir / f"{self.filename}.png"
        if task_name(pl_module) == "multilabel":
            per_label = matrix.reshape(-1, 2, 2)  # a single label's matrix is (2, 2)
            png = save_label_matrices(per_label, list(pl_module.output_names), png)
        else:
            names = list(pl_module.hparams.get("class_names") or map(str, range(len(matrix))))
            png = save_confusion_matrix(matrix, names, png)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image(key="test/confusion_matrix", images=[str(png)])

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """The per-output table, from the metrics the module logged (after this callback's
        epoch end)."""
        if self._thresholded(pl_module) and trainer.is_global_zero:
            log_label_table(trainer, list(pl_module.output_names))

    @staticmethod
    def _thresholded(pl_module: L.LightningModule) -> bool:
        task = getattr(pl_module, "task", None)
        return bool(getattr(task, "thresholded", False))

    def teardown(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self._hook is not None:
            self._hook.remove()
            self._hook = None


def task_name(pl_module: L.LightningModule) -> str:
    """The module's task (`multiclass`, `multilabel`, `binary`); `multiclass` for a module
    without one."""
    return str(getattr(getattr(pl_module, "task", None), "name", "") or "multiclass")


def confusion_metric(pl_module: L.LightningModule) -> Metric:
    """The matrix `pl_module`'s task is scored with: a 2x2 matrix of the two classes for
    `binary`, one 2x2 per output for `multilabel` (unknown labels, -1, left out; a single label
    is a binary matrix, torchmetrics' multilabel one needs two), the class x class matrix for
    `multiclass`."""
    name = task_name(pl_module)
    outputs = len(getattr(pl_module, "output_names", None) or ())
    if name == "binary" or (name == "multilabel" and outputs == 1):
        return BinaryConfusionMatrix(ignore_index=-1)
    if name == "multilabel":
        return MultilabelConfusionMatrix(num_labels=outputs, ignore_index=-1)
    return MulticlassConfusionMatrix(num_classes=int(pl_module.hparams.num_classes))


def save_confusion_matrix(matrix: torch.Tensor, class_names: Sequence[str], png: Path) -> Path:
    """Write the counts as `png` (a labelled heat map) and as a CSV next to it; returns `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png.parent.mkdir(parents=True, exist_ok=True)
    counts = matrix.to(torch.long).numpy()
    header = "true\\predicted," + ",".join(class_names)
    rows = [
        f"{name}," + ",".join(str(v) for v in row)
        for name, row in zip(class_names, counts, strict=True)
    ]
    png.with_suffix(".csv").write_text("\n".join([header, *rows]) + "\n")

    n = len(class_names)
    size = max(4.0, 0.5 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks(range(n), labels=class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), labels=class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = counts.max() / 2 if counts.size else 0
    for i in range(n):
        for j in range(n):
            color = "white" if counts[i, j] > threshold else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=color, fontsize=8)
    total = counts.sum()
    accuracy = counts.trace() / total if total else float("nan")
    ax.set_title(f"test confusion matrix (accuracy {accuracy:.3f}, n={total})")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png
