"""Fast twin of the slow multi-label run (task/test_multilabel_run.py): one tiny real
multi-label run (timm's test EfficientNet at 16x16, two training steps on 120 digit pairs) whose
per-label thresholds, chosen on the whole validation split, are stored in the checkpoint and are
the ones test, evaluate, predict and export apply; per-label confusion counts and the report."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import TINY_RUN, compose_config
from helpers.task_data import task_overrides
from helpers.trained_fixture import compose_task
from sklearn.metrics import f1_score

from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.model.restore import load_trained
from graytransfer.run import build_data, train
from graytransfer.task.thresholds import choose_thresholds
from graytransfer.tools import evaluate, export, predict
from graytransfer.tools.report import write_report

LABELS = [str(d) for d in range(10)]

#: every validation and test image (thresholds chosen on the whole val split; counts over test)
WHOLE_SPLITS = [
    "trainer.limit_val_batches=1.0",
    "trainer.limit_test_batches=1.0",
    "logger=none",
    "callbacks=[model_checkpoint,confusion_matrix]",
    "seed=0",
]


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def multilabel_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The run's config, record, stored thresholds, and evaluate's predictions.csv rows."""
    tmp = tmp_path_factory.mktemp("multilabel")
    overrides = [*TINY_RUN, *task_overrides("multilabel", tmp / "data"), *WHOLE_SPLITS]
    cfg = compose_config(overrides, tmp / "run")
    info = train(cfg)
    best = Path(info["best_checkpoint"])
    result = evaluate.evaluate(compose_task("evaluate", [f"ckpt_path={best}"], tmp / "e"))
    return {
        "cfg": cfg,
        "info": info,
        "best": best,
        "tmp": tmp,
        "stored": read_checkpoint(best)["state_dict"]["thresholds"],
        "evaluated": result,
        "table": rows(tmp / "e" / "predictions.csv"),
    }


def test_the_thresholds_are_the_max_f1_of_the_best_checkpoints_val_scores(multilabel_run):
    run = multilabel_run
    checkpoint = read_checkpoint(run["best"])
    stored = run["stored"]
    assert checkpoint["graytransfer"]["task"] == "multilabel"
    assert checkpoint["graytransfer"]["thresholds"] == stored.tolist()
    assert checkpoint["graytransfer"]["outputs"] == LABELS
    assert len(set(stored.tolist())) > 1  # one per label, chosen, not the 0.5 default
    trained = load_trained(run["best"])
    assert trained.thresholds == stored.tolist()
    data = build_data(run["cfg"], (16, 16))
    with torch.no_grad():
        probs = torch.sigmoid(trained.model(data.val_set.images))
    again = choose_thresholds(probs, data.val_set.labels, "max_f1", 0.9, 0.5)
    assert torch.allclose(again, stored, atol=1e-5)


def test_test_and_evaluate_decide_each_label_at_its_stored_threshold(multilabel_run):
    run = multilabel_run
    test_f1 = run["info"]["metrics"]["test/f1"]
    assert run["evaluated"]["metrics"]["test/f1"] == pytest.approx(test_f1, abs=1e-6)
    table = run["table"]
    prob = np.array([[float(r[f"p_{n}"]) for n in LABELS] for r in table])
    pred = np.array([[int(r[f"pred_{n}"]) for n in LABELS] for r in table])
    true = np.array([[int(r[n]) for n in LABELS] for r in table])
    assert (pred == (prob >= run["stored"].numpy() - 5e-7)).all()
    assert (pred != (prob >= 0.5)).any()  # the stored thresholds, not 0.5, decided
    f1 = np.mean([f1_score(true[:, k], pred[:, k], zero_division=0) for k in range(10)])
    assert f1 == pytest.approx(test_f1, abs=1e-4)


def test_predict_and_export_carry_the_stored_thresholds(multilabel_run):
    run, tmp = multilabel_run, multilabel_run["tmp"]
    table = run["table"]
    listing = tmp / "list.csv"
    listing.write_text("path\n" + "".join(f"{r['id']}\n" for r in table))
    ckpt = f"ckpt_path={run['best']}"
    predicted = rows(predict.run(compose_task("predict", [ckpt, f"input={listing}"], tmp / "p")))
    pred = [[int(r[f"pred_{n}"]) for n in LABELS] for r in table]
    assert [[int(r[f"pred_{n}"]) for n in LABELS] for r in predicted] == pred
    for row, flags in zip(predicted, pred, strict=True):
        assert row["label"] == "|".join(n for n, f in zip(LABELS, flags, strict=True) if f)
    exported = export.run(compose_task("export", [ckpt, "format=torchscript"], tmp / "x"))
    meta = json.loads(exported.with_name(exported.name + ".json").read_text())
    assert meta["task"] == "multilabel" and meta["outputs"] == LABELS
    assert meta["thresholds"] == run["stored"].tolist()


def test_per_label_confusion_counts_each_test_image_once_and_the_report_names_labels(
    multilabel_run,
):
    run_dir = Path(multilabel_run["cfg"].paths.output_dir)
    matrices = rows(run_dir / "confusion_matrix.csv")
    assert [r["label"] for r in matrices] == LABELS
    tested = sum(1 for r in rows(run_dir / "split.csv") if r["split"] == "test")
    for r in matrices:
        assert sum(int(r[k]) for k in ("tn", "fp", "fn", "tp")) == tested
    text = write_report(run_dir)[0].read_text()
    assert "test AUROC (macro)" in text and "AUROC 9" in text
    assert f"{multilabel_run['info']['metrics']['test/auroc']:.4f}" in text
