"""A real multi-label run end to end: thresholds chosen on val are saved in the checkpoint and
are exactly the ones test, evaluate, predict and the exported model apply."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import compose_config
from helpers.trained_fixture import TINY, compose_task
from sklearn.metrics import f1_score

from bench.multilabel_pairs import write_pairs
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.model.restore import load_trained
from graytransfer.run import build_data, train
from graytransfer.task.thresholds import choose_thresholds
from graytransfer.tools import evaluate, export, predict
from graytransfer.tools.report import write_report

PIPE = [
    "data=csv",
    "data.label_column=Finding Labels",
    "data.label_separator=|",
    "data.group_column=patient",
    "data.num_workers=0",
    "data.image_size=16",
    "task=multilabel",
    "logger=wandb",
    "callbacks=[model_checkpoint,nan_guard,confusion_matrix]",
]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory) -> tuple:
    root = tmp_path_factory.mktemp("pairs")
    table = write_pairs(root / "data", source="digits", count=240, seed=0)
    cfg = compose_config([*TINY, *PIPE, f"data.csv={table}"], root / "run")
    return cfg, train(cfg)


@pytest.mark.slow
def test_the_val_thresholds_are_stored_and_applied_everywhere(multilabel_run, tmp_path) -> None:
    cfg, info = multilabel_run
    assert cfg.monitor.metric == "val/auroc" and info["monitor"]["metric"] == "val/auroc"
    best = Path(info["best_checkpoint"])
    checkpoint = read_checkpoint(best)
    stored = checkpoint["state_dict"]["thresholds"]
    assert checkpoint["graytransfer"]["task"] == "multilabel"
    assert checkpoint["graytransfer"]["thresholds"] == stored.tolist()
    assert checkpoint["graytransfer"]["outputs"] == [str(d) for d in range(10)]
    assert not torch.allclose(stored, torch.full_like(stored, 0.5))  # learnt, not the default

    # they are the max-F1 thresholds of the best checkpoint's own validation scores
    trained = load_trained(best)
    assert trained.task == "multilabel" and trained.thresholds == stored.tolist()
    data = build_data(cfg, (16, 16))
    with torch.no_grad():
        probs = torch.sigmoid(trained.model(data.val_set.images))
    again = choose_thresholds(probs, data.val_set.labels, "max_f1", 0.9, 0.5)
    assert torch.allclose(again, stored, atol=1e-5)

    # test (train.py) and evaluate score the test split at those thresholds
    result = evaluate.evaluate(compose_task("evaluate", [f"ckpt_path={best}"], tmp_path / "e"))
    assert result["metrics"]["test/f1"] == pytest.approx(info["metrics"]["test/f1"], abs=1e-6)
    table = rows(tmp_path / "e" / "predictions.csv")
    labels = trained.output_names
    prob = np.array([[float(r[f"p_{n}"]) for n in labels] for r in table])
    pred = np.array([[int(r[f"pred_{n}"]) for n in labels] for r in table])
    true = np.array([[int(r[n]) for n in labels] for r in table])
    assert (pred == (prob >= stored.numpy() - 5e-7)).all()
    assert (pred != (prob >= 0.5)).any()  # the stored thresholds, not 0.5, decided
    f1 = np.mean([f1_score(true[:, k], pred[:, k]) for k in range(len(labels))])
    assert f1 == pytest.approx(info["metrics"]["test/f1"], abs=1e-4)

    # predict applies them to image files
    listing = tmp_path / "list.csv"
    listing.write_text("path\n" + "".join(f"{p}\n" for p in data.test_set.ids))
    out = predict.run(
        compose_task("predict", [f"ckpt_path={best}", f"input={listing}"], tmp_path / "p")
    )
    predicted = rows(out)
    assert [r["path"] for r in predicted] == [r["id"] for r in table]
    assert [[int(r[f"pred_{n}"]) for n in labels] for r in predicted] == pred.tolist()
    assert predicted[0]["label"] == "|".join(n for n, f in zip(labels, pred[0], strict=True) if f)

    # and the exported model's metadata carries them
    exported = export.run(
        compose_task("export", [f"ckpt_path={best}", "format=torchscript"], tmp_path / "x")
    )
    meta = json.loads(exported.with_name(exported.name + ".json").read_text())
    assert meta["task"] == "multilabel" and meta["outputs"] == labels
    assert meta["thresholds"] == stored.tolist()


@pytest.mark.slow
def test_per_label_confusion_and_report_columns(multilabel_run) -> None:
    cfg, info = multilabel_run
    run_dir = Path(cfg.paths.output_dir)
    matrices = rows(run_dir / "confusion_matrix.csv")
    assert [r["label"] for r in matrices] == [str(d) for d in range(10)]
    tested = sum(1 for r in rows(run_dir / "split.csv") if r["split"] == "test")
    for r in matrices:  # every test image counted once per label (no unknown labels here)
        assert sum(int(r[k]) for k in ("tn", "fp", "fn", "tp")) == tested
    assert sum(int(r["tp"]) for r in matrices) > 0
    # W&B's per-label table: one row per label with the test AUROC, AP, F1 and prevalence
    wandb_dir = Path(info["wandb_dir"])
    table = json.loads(next(wandb_dir.rglob("per_label_*.table.json")).read_text())
    assert table["columns"] == ["label", "auroc", "ap", "f1", "prevalence"]
    assert [row[0] for row in table["data"]] == [str(d) for d in range(10)]
    assert table["data"][3][1] == pytest.approx(info["metrics"]["test/auroc_per_label/3"], abs=1e-6)
    md, _ = write_report(run_dir)
    text = md.read_text()
    assert "test AUROC (macro)" in text and "AUROC 9" in text
    assert f"{info['metrics']['test/auroc']:.4f}" in text
