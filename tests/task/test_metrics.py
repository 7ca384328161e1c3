"""Per-label and averaged metrics of the thresholded tasks against scikit-learn's own."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
    roc_auc_score,
)

from graytransfer.task import BinaryTask, MultiLabelTask


def scores(n: int = 200, labels: int = 4, seed: int = 0, unknown: float = 0.15):
    """Probabilities that carry signal, 0/1 targets with some -1 (unknown) entries."""
    rng = np.random.default_rng(seed)
    truth = (rng.random((n, labels)) < [0.1, 0.3, 0.5, 0.7][:labels]).astype(int)
    probs = np.clip(truth * 0.3 + rng.random((n, labels)) * 0.7, 0, 1)
    targets = np.where(rng.random((n, labels)) < unknown, -1, truth)
    return torch.tensor(probs, dtype=torch.float32), torch.tensor(targets)


def test_multilabel_metrics_match_sklearn_per_label_macro_and_micro() -> None:
    probs, targets = scores()
    thresholds = torch.tensor([0.3, 0.45, 0.5, 0.62])
    values = MultiLabelTask().values(probs, targets, thresholds, ["a", "b", "c", "d"])
    p, t = probs.numpy(), targets.numpy()
    aurocs, aps, f1s = [], [], []
    for k, name in enumerate("abcd"):
        known = t[:, k] >= 0  # unknown labels are left out of every metric
        y, s = t[known, k], p[known, k]
        aurocs.append(roc_auc_score(y, s))
        aps.append(average_precision_score(y, s))
        f1s.append(f1_score(y, s >= thresholds[k].item()))
        assert values[f"auroc_per_label/{name}"].item() == pytest.approx(aurocs[-1], abs=1e-5)
        assert values[f"ap_per_label/{name}"].item() == pytest.approx(aps[-1], abs=1e-5)
        assert values[f"f1_per_label/{name}"].item() == pytest.approx(f1s[-1], abs=1e-6)
        assert values[f"prevalence_per_label/{name}"].item() == pytest.approx(y.mean(), abs=1e-6)
    assert values["auroc"].item() == pytest.approx(np.mean(aurocs), abs=1e-5)
    assert values["ap"].item() == pytest.approx(np.mean(aps), abs=1e-5)
    assert values["f1"].item() == pytest.approx(np.mean(f1s), abs=1e-6)
    known = t >= 0
    micro = roc_auc_score(t[known], p[known])
    assert values["auroc_micro"].item() == pytest.approx(micro, abs=1e-5)


def test_without_unknowns_macro_and_micro_auroc_are_sklearns_averages() -> None:
    probs, targets = scores(unknown=0.0)
    values = MultiLabelTask().values(probs, targets, torch.full((4,), 0.5), list("abcd"))
    p, t = probs.numpy(), targets.numpy()
    assert values["auroc"].item() == pytest.approx(roc_auc_score(t, p, average="macro"), abs=1e-5)
    micro = roc_auc_score(t, p, average="micro")
    assert values["auroc_micro"].item() == pytest.approx(micro, abs=1e-5)
    ap = average_precision_score(t, p, average="macro")
    assert values["ap"].item() == pytest.approx(ap, abs=1e-5)


def test_a_label_with_one_class_in_the_split_is_left_out_of_the_macro_auroc() -> None:
    probs, targets = scores(unknown=0.0)
    targets[:, 0] = 0  # label a: no positive here
    values = MultiLabelTask().values(probs, targets, torch.full((4,), 0.5), list("abcd"))
    assert torch.isnan(values["auroc_per_label/a"])
    expected = roc_auc_score(targets[:, 1:].numpy(), probs[:, 1:].numpy(), average="macro")
    assert values["auroc"].item() == pytest.approx(expected, abs=1e-5)


def test_binary_metrics_match_sklearn_at_the_threshold() -> None:
    probs, targets = scores(labels=2, unknown=0.0)
    p, y = probs[:, 1:], targets[:, 1]
    threshold = torch.tensor([0.55])
    values = BinaryTask().values(p, y.reshape(-1, 1), threshold, ["pneumonia"])
    s, yy = p[:, 0].numpy(), y.numpy()
    decided = s >= 0.55
    assert values["auroc"].item() == pytest.approx(roc_auc_score(yy, s), abs=1e-5)
    assert values["ap"].item() == pytest.approx(average_precision_score(yy, s), abs=1e-5)
    assert values["sensitivity"].item() == pytest.approx(recall_score(yy, decided))
    assert values["specificity"].item() == pytest.approx(recall_score(1 - yy, ~decided))
    assert values["balanced_acc"].item() == pytest.approx(balanced_accuracy_score(yy, decided))
    assert values["f1"].item() == pytest.approx(f1_score(yy, decided))
    assert values["acc"].item() == pytest.approx((decided == yy).mean())


def test_no_metric_name_is_the_folder_of_another() -> None:
    """MLflow's file store writes `val/auroc` as a file: a key `val/auroc/a` beside it crashed a
    multilabel run with logger=mlflow (NotADirectoryError), found by the combination matrix."""
    probs, targets = scores()
    names = MultiLabelTask().values(probs, targets, torch.full((4,), 0.5), ["a", "b", "c", "d"])
    for key in names:
        assert not any(other.startswith(f"{key}/") for other in names), key
