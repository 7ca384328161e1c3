"""Per-output test results of a multilabel or binary run: 2x2 confusion matrices (files) and the
per-label W&B table (AUROC, AP, F1, prevalence, from the metrics the module logged)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import WandbLogger

from graytransfer.task.multilabel import label_metric

TABLE_METRICS = ("auroc", "ap", "f1", "prevalence")


def save_label_matrices(matrices: torch.Tensor, names: Sequence[str], png: Path) -> Path:
    """Write `matrices` (L, 2, 2) as a CSV (label, tn, fp, fn, tp) and a PNG of L small 2x2
    heat maps next to it; returns `png`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png.parent.mkdir(parents=True, exist_ok=True)
    counts = matrices.to(torch.long).numpy()
    rows = [
        f"{n},{c[0, 0]},{c[0, 1]},{c[1, 0]},{c[1, 1]}" for n, c in zip(names, counts, strict=True)
    ]
    png.with_suffix(".csv").write_text("\n".join(["label,tn,fp,fn,tp", *rows]) + "\n")
    columns = min(len(names), 5)
    lines = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(lines, columns, figsize=(2.4 * columns, 2.4 * lines), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.axis("off")
    for ax, name, count in zip(axes.flat, names, counts, strict=False):
        ax.imshow(count, cmap="Blues")
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(count[i, j]), ha="center", va="center", fontsize=8)
        ax.set_xticks([0, 1], labels=["0", "1"])
        ax.set_yticks([0, 1], labels=["0", "1"])
        ax.set_title(str(name), fontsize=9)
    fig.suptitle("test confusion per label (rows: true, columns: decided)")
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return png


def label_rows(metrics: dict[str, torch.Tensor], names: Sequence[str]) -> list[list]:
    """[name, auroc, ap, f1, prevalence] per output from `test/<metric>_per_label/<name>` (a binary
    task logs `test/<metric>` for its single output)."""
    rows = []
    for name in names:
        row: list = [str(name)]
        for metric in TABLE_METRICS:
            value = metrics.get(f"test/{label_metric(metric, name)}")
            if value is None and len(names) == 1:
                value = metrics.get(f"test/{metric}")
            row.append(float(value) if value is not None else None)
        rows.append(row)
    return rows


def log_label_table(trainer: L.Trainer, names: Sequence[str]) -> None:
    """Log the `test/per_label` table to every W&B logger of `trainer`."""
    rows = label_rows(dict(trainer.callback_metrics), names)
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            logger.log_table(key="test/per_label", columns=["label", *TABLE_METRICS], data=rows)
