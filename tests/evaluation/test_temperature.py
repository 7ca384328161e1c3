"""Calibration fitted on validation logits (graytransfer.evaluation.temperature), the classifier's
calibration buffers, the uncalibrated test metrics and the weighted ECE/Brier of the bootstrap.

The fits are checked on synthetic logits whose true map is known: labels drawn from
`softmax(z)` / `sigmoid(z)` while the model reports `z * c + d`; the fit must recover 1/c
(and -d/c for Platt) to a few percent on 20,000 images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers.configs import TEST_NET, compose_config
from scipy.special import expit, softmax
from sklearn.metrics import roc_auc_score

from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import Bootstrap, resample_counts, resampled_indices
from graytransfer.evaluation.calibration import (
    before_calibration,
    calibration,
    calibration_names,
    uncalibrated,
    weighted_calibration,
)
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.temperature import TemperatureScaling, stored_calibration
from graytransfer.model.build import build_classifier
from graytransfer.run.calibrate import apply, check_calibration, rewrite_checkpoint

N = 20_000


def multiclass_logits(seed: int = 0, n: int = N, k: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """True logits z (n, k) and labels drawn from softmax(z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2, size=(n, k))
    cum = softmax(z, axis=1).cumsum(axis=1)
    labels = (rng.random((n, 1)) > cum).sum(axis=1)
    return z, labels


def sigmoid_labels(z: np.ndarray, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(z.shape) < expit(z)).astype(np.int64)


def test_multiclass_temperature_recovers_the_true_temperature():
    z, labels = multiclass_logits()
    fitted = TemperatureScaling().fit("multiclass", z * 3.0, labels, ["a", "b", "c", "d"])
    record = fitted.record()
    assert record["method"] == "temperature"
    assert record["temperature"] == pytest.approx(3.0, rel=0.05)
    assert np.allclose(fitted.scale, 1 / record["temperature"]) and np.all(fitted.bias == 0)
    assert record["val_nll_after"] < record["val_nll_before"]
    assert record["images"] == N


def test_binary_platt_recovers_slope_and_intercept():
    rng = np.random.default_rng(2)
    z = rng.normal(0, 2, size=N)
    labels = sigmoid_labels(z)
    fitted = TemperatureScaling().fit("binary", (z - 1.0) / 0.5, labels, ["pos"])
    record = fitted.record()
    assert record["method"] == "platt"
    # sigmoid(a * (z - 1) / 0.5 + b) = sigmoid(z) at a = 0.5, b = 1
    assert record["a"] == pytest.approx(0.5, rel=0.05)
    assert record["b"] == pytest.approx(1.0, abs=0.08)
    assert record["val_nll_after"] < record["val_nll_before"]


@pytest.mark.parametrize("separable", [False, True])
def test_platt_equals_scikit_learns_sigmoid_calibration(separable):
    """scikit-learn's (private) `_sigmoid_calibration` fits the same smoothed-target Platt model
    as `P = 1 / (1 + exp(A f + B))`: a = -A, b = -B. A separable split keeps a finite slope."""
    calibration_module = pytest.importorskip("sklearn.calibration")
    rng = np.random.default_rng(11)
    if separable:
        z = np.r_[-3 - rng.random(8), 3 + rng.random(8)]
        y = np.r_[np.zeros(8), np.ones(8)].astype(np.int64)
    else:
        z = rng.normal(0, 2, size=500)
        y = sigmoid_labels(0.7 * z - 0.3, seed=11)
    big_a, big_b = calibration_module._sigmoid_calibration(z, y)
    fitted = TemperatureScaling().fit("binary", z, y, ["pos"]).record()
    assert fitted["a"] == pytest.approx(-big_a, rel=1e-3)
    assert fitted["b"] == pytest.approx(-big_b, abs=1e-3)
    assert fitted["a"] < 5


def test_multilabel_one_temperature_per_label_on_known_targets_only():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 2, size=(N, 3))
    targets = sigmoid_labels(z)
    targets[:, 2] = 1  # a label with a single class among its known targets: nothing to fit
    unknown = rng.random(N) < 0.3
    targets[unknown, 0] = -1
    reported = z * np.array([2.0, 0.5, 4.0])
    reported[unknown, 0] = 50.0  # garbage behind the unknown entries: must not count
    fitted = TemperatureScaling().fit("multilabel", reported, targets, ["x", "y", "single"])
    temps = fitted.record()["temperature"]
    assert temps["x"] == pytest.approx(2.0, rel=0.05)
    assert temps["y"] == pytest.approx(0.5, rel=0.05)
    assert temps["single"] == 1.0
    assert np.all(fitted.bias == 0)


def test_fit_is_deterministic():
    z, labels = multiclass_logits(seed=4, n=2000)
    first = TemperatureScaling().fit("multiclass", z * 2, labels, list("abcd"))
    second = TemperatureScaling().fit("multiclass", z * 2, labels, list("abcd"))
    assert first.record() == second.record()


def predictions(task: str, seed: int = 5, n: int = 400) -> Predictions:
    """Over-confident test predictions of `task` (the reported logits are 3x the true ones)."""
    rng = np.random.default_rng(seed)
    if task == "multiclass":
        z, labels = multiclass_logits(seed, n, 3)
        probs = softmax(3 * z, axis=1)
        names = ["a", "b", "c"]
    else:
        width = 1 if task == "binary" else 3
        z = rng.normal(0, 2, size=(n, width))
        labels = sigmoid_labels(z, seed)
        if task == "multilabel":
            labels[rng.random(n) < 0.2, 1] = -1
        else:
            labels = labels[:, 0]
        probs = expit(3 * z)
        names = ["pos"] if task == "binary" else ["x", "y", "z"]
    return Predictions(
        task=task,
        names=names,
        class_names=names if task != "binary" else ["neg", "pos"],
        probs=probs,
        labels=labels,
        ids=[str(i) for i in range(n)],
        thresholds=None if task == "multiclass" else np.full(len(names), 0.5),
    )


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_weighted_calibration_equals_calibration_on_each_resample(task):
    preds = predictions(task, n=150)
    counts = next(resample_counts(len(preds), None, 5, seed=0))
    found = weighted_calibration(preds, counts)
    assert set(found) == set(calibration_names(preds))
    for r, row in enumerate(counts):
        take = resampled_indices(row)
        resampled = Predictions(
            task=preds.task,
            names=preds.names,
            class_names=preds.class_names,
            probs=preds.probs[take],
            labels=preds.labels[take],
            ids=[preds.ids[i] for i in take],
            thresholds=preds.thresholds,
        )
        expected = calibration(resampled).metrics()
        for name in found:
            assert found[name][r] == pytest.approx(expected[name], abs=1e-12), name


def test_bootstrap_gives_intervals_of_ece_and_brier_around_the_point():
    preds = predictions("multiclass")
    intervals = Bootstrap(bootstrap=200, seed=0).intervals(preds)
    point = calibration(preds)
    for name, value in (("ece", point.ece), ("brier", point.brier)):
        low, high = intervals.bounds[name]
        assert low < value < high, name


@pytest.mark.parametrize("task", ["multiclass", "binary", "multilabel"])
def test_uncalibrated_inverts_the_stored_map(task):
    raw = predictions(task)
    width = raw.probs.shape[1]
    scale = np.full(width, 0.4) if task != "binary" else np.array([0.3])
    bias = np.zeros(width) if task != "binary" else np.array([0.7])
    if task == "multiclass":
        logits = np.log(raw.probs)
        calibrated_probs = softmax(logits * scale + bias, axis=1)
    else:
        logits = np.log(raw.probs) - np.log1p(-raw.probs)
        calibrated_probs = expit(logits * scale + bias)
    calibrated_probs = calibrated_probs.astype(np.float32)  # as the model hands them over
    calibrated = Predictions(**{**raw.__dict__, "probs": calibrated_probs})
    back = uncalibrated(calibrated, scale, bias)
    assert np.abs(back.probs - raw.probs).max() < 1e-4
    assert calibration(back).ece == pytest.approx(calibration(raw).ece, abs=1e-4)


def test_temperature_lowers_the_test_ece_and_keeps_every_argmax():
    """Fitted on one over-confident split, applied to another: ECE falls, no decision moves.
    (The one-vs-rest AUROC of a softmax class is not exactly invariant: p_k also depends on the
    other classes' logits, so images of different argmax can swap ranks; see the sigmoid test.)"""
    z_val, y_val = multiclass_logits(seed=6, n=5000, k=3)
    fitted = TemperatureScaling().fit("multiclass", 3 * z_val, y_val, list("abc"))
    raw = predictions("multiclass", seed=7, n=3000)
    logits = np.log(raw.probs)
    after = Predictions(**{**raw.__dict__, "probs": softmax(logits * fitted.scale, axis=1)})
    assert calibration(after).ece < calibration(raw).ece / 2
    assert np.array_equal(after.decisions, raw.decisions)


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_a_fitted_sigmoid_map_lowers_ece_and_keeps_every_auroc(task):
    val = predictions(task, seed=9, n=4000)
    logit = np.log(val.probs) - np.log1p(-val.probs)
    fitted = TemperatureScaling().fit(task, logit, val.labels, val.names)
    raw = predictions(task, seed=10, n=3000)
    z = np.log(raw.probs) - np.log1p(-raw.probs)
    after = Predictions(**{**raw.__dict__, "probs": expit(z * fitted.scale + fitted.bias)})
    assert calibration(after).ece < calibration(raw).ece / 2
    targets = raw.targets
    for k in range(targets.shape[1]):
        known = targets[:, k] >= 0
        y = targets[known, k]
        assert roc_auc_score(y, after.probs[known, k]) == pytest.approx(
            roc_auc_score(y, raw.probs[known, k]), abs=1e-12
        )


# --- the classifier's buffers -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A binary classifier on timm's test net (threshold rule youden), untrained."""
    cfg = compose_config([*TEST_NET, "task=binary"], tmp_path_factory.mktemp("model"))
    from hydra.utils import instantiate

    return build_classifier(
        cfg, instantiate(cfg.model), class_names=["neg", "pos"], image_size=(16, 16)
    ).eval()


def images(n: int = 6, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 16, 16), dtype=torch.uint8, generator=generator)


def test_forward_applies_the_stored_calibration(tiny_model):
    model = tiny_model
    with torch.no_grad():
        raw = model(images())
        model.calibration_scale.fill_(0.25)
        model.calibration_bias.fill_(-1.5)
        try:
            calibrated = model(images())
        finally:
            model.calibration_scale.fill_(1.0)
            model.calibration_bias.zero_()
    assert torch.allclose(calibrated, raw * 0.25 - 1.5, atol=1e-6)


def test_a_checkpoint_without_calibration_buffers_loads_as_identity(tiny_model):
    state = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    del state["calibration_scale"], state["calibration_bias"]  # written before calibration
    tiny_model.calibration_scale.fill_(3.0)  # whatever the model held before loading
    tiny_model.calibration_bias.fill_(2.0)
    tiny_model.load_state_dict(state, strict=True)
    assert torch.all(tiny_model.calibration_scale == 1) and torch.all(
        tiny_model.calibration_bias == 0
    )
    assert stored_calibration(tiny_model) is None


def test_training_starts_from_the_identity(tiny_model):
    tiny_model.calibration_scale.fill_(0.5)
    tiny_model.calibration_bias.fill_(0.5)
    tiny_model.on_train_start()
    assert stored_calibration(tiny_model) is None


def test_apply_rechooses_thresholds_and_keeps_every_val_decision(tiny_model):
    """Platt's map is increasing: the youden threshold chosen on the calibrated probabilities
    splits the validation images exactly as the one chosen on the raw ones did."""
    model = tiny_model
    rng = np.random.default_rng(8)
    z = rng.normal(0, 3, size=(300, 1)).astype(np.float32)
    labels = sigmoid_labels(z[:, 0] / 3, seed=8)
    raw_probs = torch.sigmoid(torch.as_tensor(z))
    targets = model.task.targets(torch.as_tensor(labels))
    raw_threshold = model.task.choose(raw_probs, targets)
    fitted = TemperatureScaling().fit("binary", z, labels, ["pos"])
    apply(model, fitted, z, labels)
    try:
        probs = model.task.probabilities(model.calibrated(torch.as_tensor(z)))
        assert not torch.allclose(model.thresholds, raw_threshold)  # in probability space
        assert torch.equal(
            model.task.decide(probs, model.thresholds), model.task.decide(raw_probs, raw_threshold)
        )
        sidecar = stored_calibration(model)
        assert sidecar["method"] == "platt" and sidecar["a"] == pytest.approx(fitted.scale[0])
    finally:
        model.calibration_scale.fill_(1.0)
        model.calibration_bias.zero_()


def test_rewrite_checkpoint_stores_the_calibration_and_is_all_or_nothing(
    tiny_model, tmp_path, monkeypatch
):
    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": tiny_model.state_dict(), "graytransfer": {}}, path)
    tiny_model.calibration_scale.fill_(0.5)
    try:
        before = path.read_bytes()
        import graytransfer.atomic

        def broken(*args):
            raise OSError("disk full")

        monkeypatch.setattr(graytransfer.atomic.os, "replace", broken)
        with pytest.raises(OSError):
            rewrite_checkpoint(path, tiny_model)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["best.ckpt"]
        monkeypatch.undo()
        rewrite_checkpoint(path, tiny_model)
    finally:
        tiny_model.calibration_scale.fill_(1.0)
    stored = torch.load(path, weights_only=True)
    assert torch.all(stored["state_dict"]["calibration_scale"] == 0.5)
    assert stored["graytransfer"]["calibration"]["scale"] == [0.5]


class _Data:
    def __init__(self, val_set):
        self.val_set = val_set


def test_no_val_split_is_refused_in_one_line():
    with pytest.raises(UserError) as err:
        check_calibration(TemperatureScaling(), _Data([]))
    assert "data.val_split" in str(err.value) and "\n" not in str(err.value)
    check_calibration(None, _Data([]))  # calibration=none needs no val split
    check_calibration(TemperatureScaling(), _Data([0]))


def test_before_calibration_is_empty_without_a_calibration(tiny_model):
    assert before_calibration(predictions("binary"), tiny_model) == {}
