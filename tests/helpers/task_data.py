"""Small real data sets for each task (`task=multiclass|binary|multilabel`), written to disk, and
the overrides that train on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits

from bench.multilabel_pairs import write_pairs

TASKS = ("multiclass", "binary", "multilabel")


def binary_folders(root: Path, per_class: int = 40) -> Path:
    """Real digits 0 ("normal") and 1 ("pneumonia") as PNG class folders under `root`."""
    digits = load_digits()
    for digit, name in ((0, "normal"), (1, "pneumonia")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(digits.images[digits.target == digit][:per_class]):
            Image.fromarray(np.uint8(image * 15)).save(root / name / f"{i}.png")
    return root


def task_overrides(task: str, root: Path) -> list[str]:
    """The overrides of a tiny run of `task` on real data written under `root`: the digits
    (multiclass), two digit folders (binary), digit pairs with `|`-separated labels
    (multilabel)."""
    if task == "multiclass":
        return ["task=multiclass"]
    if task == "binary":
        folders = binary_folders(root / "binary")
        return ["task=binary", "data=folder", f"data.root={folders}", "data.num_workers=0"]
    if task == "multilabel":
        table = write_pairs(root / "pairs", source="digits", count=120, seed=0)
        return [
            "task=multilabel",
            "data=csv",
            f"data.csv={table}",
            "data.label_column=Finding Labels",
            "data.label_separator=|",
            "data.num_workers=0",
        ]
    raise ValueError(f"unknown task {task}")
