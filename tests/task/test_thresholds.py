"""The threshold rules pick what they promise on validation scores; a tiny binary run (fast
tier) keeps the threshold chosen on its validation split only, and predict applies it."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import compose_config
from helpers.task_data import binary_folders
from helpers.trained_fixture import TINY, compose_task
from sklearn.metrics import f1_score, recall_score

from graytransfer.errors import UserError
from graytransfer.model.restore import load_trained
from graytransfer.run import train
from graytransfer.task.thresholds import choose_threshold, choose_thresholds
from graytransfer.tools import predict


def val_scores(seed: int = 1, n: int = 300):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    return np.clip(y * 0.35 + rng.random(n) * 0.65, 0, 1), y


def test_max_f1_is_the_best_f1_over_every_candidate_threshold() -> None:
    p, y = val_scores()
    chosen = choose_threshold(p, y, "max_f1", 0.9, 0.5)
    best = max(f1_score(y, p >= c) for c in np.unique(p))
    assert f1_score(y, p >= chosen) == pytest.approx(best)


def test_youden_maximises_sensitivity_plus_specificity() -> None:
    p, y = val_scores()
    chosen = choose_threshold(p, y, "youden", 0.9, 0.5)

    def j(c: float) -> float:
        return recall_score(y, p >= c) + recall_score(1 - y, p < c) - 1

    assert j(chosen) == pytest.approx(max(j(c) for c in np.unique(p)))


def test_target_sensitivity_is_the_highest_threshold_reaching_it() -> None:
    p, y = val_scores()
    chosen = choose_threshold(p, y, "sensitivity", 0.9, 0.5)
    assert recall_score(y, p >= chosen) >= 0.9
    higher = np.unique(p[p > chosen])
    assert recall_score(y, p >= higher.min()) < 0.9  # the next cut up falls short


def test_unknown_targets_are_left_out_and_one_class_keeps_the_fixed_threshold() -> None:
    p, y = val_scores()
    probs = torch.tensor(np.stack([p, p], axis=1), dtype=torch.float32)
    targets = torch.tensor(np.stack([y, np.zeros_like(y)], axis=1))
    masked = targets.clone()
    masked[::3, 0] = -1
    chosen = choose_thresholds(probs, masked, "youden", 0.9, 0.4)
    known = masked[:, 0].numpy() >= 0
    alone = choose_threshold(p[known].astype(np.float32), y[known], "youden", 0.9, 0.4)
    assert chosen[0].item() == pytest.approx(alone) and chosen[1].item() == pytest.approx(0.4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": "best"}, "task.threshold: 'best' is not one of"),
        ({"target_sensitivity": 1.5}, "task.target_sensitivity: 1.5"),
        ({"fixed": 1.0}, "task.fixed: 1.0"),
    ],
)
def test_bad_rules_are_one_line_naming_the_key(kwargs, message) -> None:
    from graytransfer.task import MultiLabelTask

    with pytest.raises(UserError, match=message):
        MultiLabelTask(**kwargs)


def csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A tiny binary run on 80 real digit images (0 "normal", 1 "pneumonia"; Youden's J), and
    predict on every image with its best checkpoint: the run folder, the stored threshold, and
    per split (the run's split.csv) the images' predicted probabilities, decisions and labels."""
    tmp = tmp_path_factory.mktemp("binary")
    root = binary_folders(tmp / "images", per_class=40)
    overrides = ["task=binary", "data=folder", f"data.root={root}", "data.num_workers=0",
                 "data.image_size=16", "logger=none"]  # fmt: skip
    # batches of 16, 3 steps an epoch for 2 epochs: it learns, so each image's score is its own;
    # every validation batch, so the threshold is chosen on the whole validation split
    steps = ["data.batch_size=16", "trainer.limit_train_batches=3", "trainer.max_epochs=2",
             "trainer.limit_val_batches=1.0"]  # fmt: skip
    info = train(compose_config([*TINY, *overrides, *steps], tmp / "run"))
    trained = load_trained(info["best_checkpoint"])
    ckpt = f"ckpt_path={info['best_checkpoint']}"
    out = predict.run(compose_task("predict", [ckpt, f"input={root}"], tmp / "predict"))
    predicted = {Path(r["path"]).resolve(): r for r in csv_rows(out)}
    splits: dict[str, dict[str, list]] = {}
    for row in csv_rows(tmp / "run" / "split.csv"):
        image = predicted[Path(row["id"]).resolve()]
        split = splits.setdefault(row["split"], {"prob": [], "pred": [], "label": [], "true": []})
        split["prob"].append(float(image["prob_pneumonia"]))
        split["pred"].append(int(image["pred_pneumonia"]))
        split["label"].append(image["label"])
        split["true"].append(int(row["label"]))
    arrays = {k: {n: np.array(v) for n, v in s.items()} for k, s in splits.items()}
    return {"info": info, "threshold": trained.thresholds[0], "splits": arrays}


def youden_on(split: dict[str, np.ndarray]) -> float:
    return choose_threshold(split["prob"], split["true"], "youden", 0.9, 0.5)


def test_the_stored_threshold_is_chosen_on_the_validation_split(binary_run) -> None:
    """Catches thresholds chosen on another split (train's or test's scores, or never chosen at
    all): the best checkpoint's threshold is Youden's J on the validation images' scores under
    that checkpoint, and not the one the train or the test images would give."""
    stored, splits = binary_run["threshold"], binary_run["splits"]
    assert set(splits) == {"train", "val", "test"}
    assert all(len(set(s["true"].tolist())) == 2 for s in splits.values())
    assert stored == pytest.approx(youden_on(splits["val"]), abs=2e-6)  # CSV: 6 decimals
    for other in ("train", "test"):
        assert abs(youden_on(splits[other]) - stored) > 1e-4, other
    assert stored != pytest.approx(0.5)


def test_test_metrics_and_predict_decide_with_the_stored_threshold(binary_run) -> None:
    """Catches predict (or test) ignoring the checkpoint's threshold, e.g. deciding at 0.5:
    every image's decision is `prob >= threshold`, some of them differ from `prob >= 0.5`, and
    the run's test sensitivity/specificity are those of the decisions at the threshold."""
    stored, splits = binary_run["threshold"], binary_run["splits"]
    prob = np.concatenate([s["prob"] for s in splits.values()])
    pred = np.concatenate([s["pred"] for s in splits.values()])
    label = np.concatenate([s["label"] for s in splits.values()])
    decided = prob >= stored - 5e-7  # the CSV rounds probabilities to 6 decimals
    assert (pred == decided).all()
    assert (pred != (prob >= 0.5)).any()  # the stored threshold, not 0.5, decided
    assert (label == np.where(decided, "pneumonia", "normal")).all()

    test = splits["test"]
    at_stored = test["prob"] >= stored - 5e-7
    metrics = binary_run["info"]["metrics"]
    positive = test["true"] == 1
    assert metrics["test/sensitivity"] == pytest.approx(at_stored[positive].mean(), abs=1e-6)
    assert metrics["test/specificity"] == pytest.approx((~at_stored[~positive]).mean(), abs=1e-6)
    record = json.loads((Path(binary_run["info"]["output_dir"]) / "metrics.json").read_text())
    assert record["metrics"]["test/sensitivity"] == metrics["test/sensitivity"]
