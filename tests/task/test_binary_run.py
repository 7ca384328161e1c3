"""A binary run end to end: one logit, an operating point chosen on val (Youden's J), and
predict deciding the class with that threshold."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from helpers.configs import compose_config
from helpers.trained_fixture import TINY, compose_task
from PIL import Image
from sklearn.datasets import load_digits

from graytransfer.model.restore import load_trained
from graytransfer.run import train
from graytransfer.tools import predict


def digit_folders(root: Path) -> Path:
    """Real digits 0 ("normal") and 1 ("pneumonia") as PNG class folders."""
    digits = load_digits()
    for digit, name in ((0, "normal"), (1, "pneumonia")):
        (root / name).mkdir(parents=True)
        for i, image in enumerate(digits.images[digits.target == digit][:60]):
            Image.fromarray(np.uint8(image * 15)).save(root / name / f"{i}.png")
    return root


@pytest.mark.slow
def test_binary_run_has_one_logit_and_predict_uses_its_val_threshold(tmp_path: Path) -> None:
    root = digit_folders(tmp_path / "images")
    overrides = ["task=binary", "data=folder", f"data.root={root}", "data.num_workers=0",
                 "data.image_size=16", "logger=none"]  # fmt: skip
    info = train(compose_config([*TINY, *overrides], tmp_path / "run"))
    assert info["monitor"]["metric"] == "val/auroc"
    metrics = info["metrics"]
    assert {"test/sensitivity", "test/specificity", "test/balanced_acc"} <= set(metrics)
    assert metrics["test/auroc"] > 0.5
    trained = load_trained(info["best_checkpoint"])
    assert trained.task == "binary" and trained.output_names == ["pneumonia"]
    assert len(trained.thresholds) == 1 and trained.model.head.classifier[-1].out_features == 1
    out = predict.run(
        compose_task(
            "predict", [f"ckpt_path={info['best_checkpoint']}", f"input={root}"], tmp_path / "p"
        )  # fmt: skip
    )
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 120
    for row in rows:
        decided = float(row["prob_pneumonia"]) >= trained.thresholds[0] - 5e-7
        assert row["label"] == ("pneumonia" if decided else "normal")
        assert int(row["pred_pneumonia"]) == int(decided)
