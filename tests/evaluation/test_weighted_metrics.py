"""The headline metrics against scikit-learn, the implementation reviewers know: the point
estimates (`reference`) are scikit-learn's own calls, and the bootstrap's vectorised version
(`weighted`) must give the same numbers on every resample, ties and missing classes included."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
    roc_auc_score,
)

from graytransfer.evaluation.bootstrap import resample_counts, resampled_indices
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import headline_names, reference_metrics
from graytransfer.evaluation.weighted import auroc_ap, weighted_metrics


def _multiclass(n: int = 60, k: int = 3, seed: int = 0, decimals: int | None = 2) -> Predictions:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, k))
    labels = rng.integers(0, k, n)
    logits[np.arange(n), labels] += 1.0
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs = probs if decimals is None else np.round(probs, decimals)  # rounded: ties
    names = [f"c{i}" for i in range(k)]
    return Predictions("multiclass", names, names, probs, labels, [str(i) for i in range(n)])


def _binary(n: int = 80, seed: int = 1) -> Predictions:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.round(1 / (1 + np.exp(-(labels + rng.normal(size=n)))), 2)[:, None]
    ids = [str(i) for i in range(n)]
    return Predictions("binary", ["pos"], ["neg", "pos"], probs, labels, ids, np.array([0.55]))


def _multilabel(n: int = 70, seed: int = 2) -> Predictions:
    rng = np.random.default_rng(seed)
    labels = rng.integers(-1, 2, (n, 3))
    probs = np.round(rng.random((n, 3)) * 0.6 + 0.4 * (labels == 1), 2)
    ids = [str(i) for i in range(n)]
    names = ["a", "b", "c"]
    return Predictions("multilabel", names, names, probs, labels, ids, np.array([0.5, 0.4, 0.6]))


def test_multiclass_points_are_scikit_learns() -> None:
    preds = _multiclass(decimals=None)  # rows sum to 1, as scikit-learn's "ovr" requires
    y, pred = preds.labels, preds.probs.argmax(1)
    got = reference_metrics(preds)
    assert got["acc"] == accuracy_score(y, pred)
    assert got["balanced_acc"] == balanced_accuracy_score(y, pred)
    assert got["f1"] == f1_score(y, pred, average="macro")
    ovr = roc_auc_score(y, preds.probs, multi_class="ovr")
    assert got["auroc"] == pytest.approx(ovr, abs=1e-12)
    onehot = np.eye(3)[y]
    assert got["ap"] == pytest.approx(average_precision_score(onehot, preds.probs), abs=1e-12)


def test_binary_points_are_scikit_learns() -> None:
    preds = _binary()
    y, p = preds.labels, preds.probs[:, 0]
    d = (p >= 0.55).astype(int)
    got = reference_metrics(preds)
    assert got["auroc"] == roc_auc_score(y, p)
    assert got["ap"] == average_precision_score(y, p)
    assert got["acc"] == accuracy_score(y, d)
    assert got["balanced_acc"] == balanced_accuracy_score(y, d)
    assert got["f1"] == f1_score(y, d)
    assert got["sensitivity"] == recall_score(y, d)
    assert got["specificity"] == recall_score(y, d, pos_label=0)


def test_multilabel_points_leave_unknowns_out() -> None:
    preds = _multilabel()
    got = reference_metrics(preds)
    known = preds.labels[:, 1] >= 0
    y, p = preds.labels[known, 1], preds.probs[known, 1]
    assert got["auroc_per_label/b"] == roc_auc_score(y, p)
    assert got["f1_per_label/b"] == f1_score(y, (p >= 0.4).astype(int))
    per = [got[f"auroc_per_label/{n}"] for n in "abc"]
    assert got["auroc"] == pytest.approx(np.mean(per))


@pytest.mark.parametrize("make", [_multiclass, _binary, _multilabel])
def test_weighted_equals_scikit_learn_on_every_resample(make) -> None:
    """Each resample's weighted value is scikit-learn's on the resampled images."""
    preds = make()
    counts = next(resample_counts(len(preds), None, 8, seed=3))
    weighted = weighted_metrics(preds, counts)
    for row, resample in enumerate(counts):
        index = resampled_indices(resample)
        picked = preds.take(index)
        expected = reference_metrics(picked)
        for name in headline_names(preds):
            assert weighted[name][row] == pytest.approx(expected[name], abs=1e-9, nan_ok=True), name


def test_weighted_with_unit_counts_is_the_point_estimate() -> None:
    preds = _binary()
    weighted = weighted_metrics(preds, np.ones((1, len(preds))))
    reference = reference_metrics(preds)
    assert {k: float(v[0]) for k, v in weighted.items()} == pytest.approx(reference)


def test_single_class_resample_is_nan() -> None:
    preds = _binary()
    only_negatives = (preds.labels == 0).astype(int)[None, :]
    got = weighted_metrics(preds, only_negatives)
    assert np.isnan(got["auroc"][0]) and np.isnan(got["sensitivity"][0])
    assert np.isfinite(got["specificity"][0])


def _tied_binary(n: int = 90, seed: int = 4) -> Predictions:
    """Scores on a coarse grid: most positives share a score with negatives (half pairs)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    probs = np.round(np.clip(0.5 + 0.25 * (labels - 0.5) + 0.2 * rng.normal(size=n), 0, 1), 1)
    ids = [str(i) for i in range(n)]
    return Predictions("binary", ["pos"], ["neg", "pos"], probs[:, None], labels, ids, [0.5])


def _rare_class(n: int = 60, seed: int = 5) -> Predictions:
    """A multiclass set whose third class has two images: many resamples miss it."""
    preds = _multiclass(n, 3, seed)
    labels = np.where(preds.labels == 2, 0, preds.labels)
    labels[:2] = 2
    return Predictions("multiclass", preds.names, preds.names, preds.probs, labels, preds.ids)


@pytest.mark.parametrize(
    ("make", "grouped"),
    [(_tied_binary, False), (_tied_binary, True), (_rare_class, False), (_multilabel, True)],
)
def test_weighted_equals_scikit_learn_with_ties_groups_and_missing_classes(make, grouped) -> None:
    """30 resamples (over groups of 3 images where asked): every value is scikit-learn's on the
    resampled images, positives tied with negatives, classes missing and images drawn 0 times
    included."""
    preds = make()
    groups = [f"g{i // 3}" for i in range(len(preds))] if grouped else None
    counts = next(resample_counts(len(preds), groups, 30, seed=9))
    assert (counts == 0).any()
    weighted = weighted_metrics(preds, counts)
    for row, resample in enumerate(counts):
        index = resampled_indices(resample)
        picked = preds.take(index)
        expected = reference_metrics(picked)
        for name in headline_names(preds):
            got = weighted[name][row]
            assert got == pytest.approx(expected[name], rel=1e-12, abs=1e-12, nan_ok=True), name


def test_auroc_ap_equals_scikit_learn_with_sample_weights() -> None:
    """`auroc_ap` on arbitrary whole-number weights (zeros included) is scikit-learn's AUROC
    and AP with those sample weights, ties between the classes included."""
    rng = np.random.default_rng(6)
    targets = rng.integers(0, 2, 200)
    scores = np.round(0.3 * targets + rng.random(200), 1)
    weights = rng.integers(0, 4, (5, 200))
    auroc, ap = auroc_ap(weights, targets, scores)
    for row, w in enumerate(weights):
        assert auroc[row] == pytest.approx(roc_auc_score(targets, scores, sample_weight=w))
        assert ap[row] == pytest.approx(average_precision_score(targets, scores, sample_weight=w))
