"""Calibration (`graytransfer.evaluation.calibration`): ECE near 0 for calibrated predictions
and clearly larger for overconfident ones, ECE and Brier equal to hand-computed values, the
binary Brier score equal to scikit-learn's, unknown multilabel targets left out."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from graytransfer.evaluation.calibration import calibration, reliability_bins, reliability_png
from graytransfer.evaluation.predictions import Predictions


def _preds(task: str, probs, labels, names) -> Predictions:
    probs = np.asarray(probs, dtype=float)
    return Predictions(
        task=task,
        names=list(names),
        class_names=list(names) if task == "multiclass" else ["neg", "pos"],
        probs=probs,
        labels=np.asarray(labels),
        ids=[str(i) for i in range(len(probs))],
    )


def test_calibrated_predictions_have_ece_near_zero_overconfident_ones_do_not() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(0, 1, 50_000)
    y = (rng.uniform(0, 1, p.size) < p).astype(int)  # each label drawn with its probability
    calibrated = calibration(_preds("binary", p, y, ["pos"]))
    assert calibrated.ece < 0.01
    pushed = np.clip(0.5 + 1.8 * (p - 0.5), 0, 1)  # the same ranking, overconfident
    over = calibration(_preds("binary", pushed, y, ["pos"]))
    assert over.ece > 0.1
    assert over.brier > calibrated.brier

    # multiclass: the top class right with the stated probability
    probs = rng.dirichlet([1, 1, 1], 30_000)
    labels = np.array([rng.choice(3, p=row) for row in probs])
    assert calibration(_preds("multiclass", probs, labels, "abc")).ece < 0.015
    sharp = probs**4 / (probs**4).sum(axis=1, keepdims=True)
    assert calibration(_preds("multiclass", sharp, labels, "abc")).ece > 0.08


def test_ece_and_brier_equal_hand_computed_values() -> None:
    # multiclass, 4 images; top-class probabilities 0.9, 0.6, 0.7, 0.4 in bins of 0.2 (bins=5)
    probs = [[0.9, 0.1, 0.0], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]
    labels = [0, 1, 1, 0]  # right, wrong, right, wrong
    found = calibration(_preds("multiclass", probs, labels, "abc"), bins=5)
    # bins: [0.4, 0.6): 0.4 wrong; [0.6, 0.8): 0.6 wrong, 0.7 right; [0.8, 1]: 0.9 right
    # ECE = (1 * |0 - 0.4| + 2 * |0.5 - 0.65| + 1 * |1 - 0.9|) / 4 = (0.4 + 0.3 + 0.1) / 4
    assert found.ece == pytest.approx(0.2)
    assert list(found.bins.count) == [0, 0, 1, 2, 1]
    assert found.bins.accuracy[3] == pytest.approx(0.5)
    assert found.bins.confidence[3] == pytest.approx(0.65)
    # Brier, summed over classes: 0.02, 0.36+0.49+0.01, 0.04+0.09+0.01, 0.49+0.09+0.16
    assert found.brier == pytest.approx((0.02 + 0.86 + 0.14 + 0.74) / 4)

    # binary: p = 0.1 (y=0), 0.3 (y=1), 0.8 (y=1), 0.9 (y=0), bins of 0.5
    binary = calibration(_preds("binary", [0.1, 0.3, 0.8, 0.9], [0, 1, 1, 0], ["pos"]), bins=2)
    # [0, 0.5): mean p 0.2, share positive 0.5; [0.5, 1]: mean p 0.85, share 0.5
    assert binary.ece == pytest.approx((2 * 0.3 + 2 * 0.35) / 4)
    assert binary.brier == pytest.approx((0.01 + 0.49 + 0.04 + 0.81) / 4)


def test_binary_brier_equals_scikit_learn() -> None:
    rng = np.random.default_rng(1)
    p = rng.uniform(0, 1, 500)
    y = rng.integers(0, 2, 500)
    found = calibration(_preds("binary", p, y, ["pos"]))
    assert found.brier == pytest.approx(brier_score_loss(y, p))
    assert found.metrics() == {"ece": found.ece, "brier": found.brier}


def test_multilabel_leaves_unknown_targets_out_and_averages_labels() -> None:
    probs = np.array([[0.9, 0.2], [0.1, 0.8], [0.7, 0.05], [0.2, 0.99]])
    labels = np.array([[1, 0], [0, -1], [-1, 1], [0, -1]])
    found = calibration(_preds("multilabel", probs, labels, ["a", "b"]))
    known_a = [0, 1, 3]
    brier_a = brier_score_loss(labels[known_a, 0], probs[known_a, 0])
    known_b = [0, 2]
    brier_b = brier_score_loss(labels[known_b, 1], probs[known_b, 1])
    metrics = found.metrics()
    assert metrics["brier_per_label/a"] == pytest.approx(brier_a)
    assert metrics["brier_per_label/b"] == pytest.approx(brier_b)
    assert found.brier == pytest.approx((brier_a + brier_b) / 2)
    ece_a = reliability_bins(probs[known_a, 0], labels[known_a, 0]).ece
    ece_b = reliability_bins(probs[known_b, 1], labels[known_b, 1]).ece
    assert metrics["ece_per_label/a"] == pytest.approx(ece_a)
    assert found.ece == pytest.approx((ece_a + ece_b) / 2)
    assert found.bins.count.sum() == 5  # the diagram pools the 5 known targets
    assert reliability_png(found).startswith(b"\x89PNG")
