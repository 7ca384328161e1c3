"""The paired comparison (graytransfer.evaluation.paired): B - A on the same resamples, checked
against scikit-learn on each resample written out; pairing makes the difference's interval
narrower than unpaired resampling; DeLong's tests per ROC curve for each task."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.ranks import rank_auroc
from sklearn.metrics import accuracy_score, roc_auc_score

from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import resample_counts, resampled_indices
from graytransfer.evaluation.paired import delong_tests, paired_bootstrap
from graytransfer.evaluation.predictions import Predictions


def binary_pair(n: int = 300, seed: int = 0, groups: bool = False) -> tuple[Predictions, ...]:
    """Two correlated scorers of the same images: B a little better than A."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    shared = rng.normal(0, 1, n)  # what makes an image hard for both
    a = 1 / (1 + np.exp(-(1.0 * (2 * y - 1) + shared + rng.normal(0, 0.5, n))))
    b = 1 / (1 + np.exp(-(1.4 * (2 * y - 1) + shared + rng.normal(0, 0.5, n))))
    ids = [f"{i}.png" for i in range(n)]
    group = [f"p{i // 3}" for i in range(n)] if groups else None

    def preds(p: np.ndarray) -> Predictions:
        return Predictions("binary", ["pos"], ["neg", "pos"], p, y, ids, [0.5], group)

    return preds(a), preds(b)


@pytest.mark.parametrize("groups", [False, True])
def test_the_paired_interval_is_the_percentiles_of_sklearns_differences(groups: bool) -> None:
    a, b = binary_pair(groups=groups)
    found = paired_bootstrap(a, b, samples=100, seed=7)
    diffs = {"acc": [], "auroc": []}
    y = a.labels
    for counts in resample_counts(len(a), a.groups, 100, 7):
        for row in counts:
            i = resampled_indices(row)
            da, db = a.decisions[i, 0], b.decisions[i, 0]
            diffs["acc"].append(accuracy_score(y[i], db) - accuracy_score(y[i], da))
            auc_b = roc_auc_score(y[i], b.probs[i, 0])
            diffs["auroc"].append(auc_b - roc_auc_score(y[i], a.probs[i, 0]))
    for name, values in diffs.items():
        row = found[name]
        assert row["diff"] == pytest.approx(row["b"] - row["a"])
        assert row["a"] == pytest.approx(
            roc_auc_score(y, a.probs[:, 0])
            if name == "auroc"
            else accuracy_score(y, a.decisions[:, 0])
        )
        np.testing.assert_allclose(row["diff_ci"], np.quantile(values, [0.025, 0.975]), atol=1e-9)
        assert row["counted"] == 100


def test_pairing_narrows_the_interval_of_the_difference() -> None:
    a, b = binary_pair(n=400)
    paired = paired_bootstrap(a, b, samples=300, seed=0)["auroc"]["diff_ci"]
    # unpaired: A and B resampled independently
    rng = np.random.default_rng(0)
    y = a.labels
    unpaired = []
    for _ in range(300):
        i, j = rng.integers(0, len(y), len(y)), rng.integers(0, len(y), len(y))
        unpaired.append(rank_auroc(y[j], b.probs[j, 0]) - rank_auroc(y[i], a.probs[i, 0]))
    low, high = np.quantile(unpaired, [0.025, 0.975])
    assert paired[1] - paired[0] < 0.7 * (high - low)


def test_delong_per_roc_curve_for_each_task() -> None:
    a, b = binary_pair()
    binary = delong_tests(a, b)
    assert list(binary) == ["auroc"] and binary["auroc"].diff > 0
    assert binary["auroc"].auroc_b == pytest.approx(roc_auc_score(b.labels, b.probs[:, 0]))
    rng = np.random.default_rng(1)
    n, ids = 120, [str(i) for i in range(120)]
    labels = rng.integers(0, 3, n)
    pa, pb = rng.dirichlet([1, 1, 1], n), rng.dirichlet([1, 1, 1], n)
    multi = [Predictions("multiclass", list("xyz"), list("xyz"), p, labels, ids) for p in (pa, pb)]
    assert list(delong_tests(*multi)) == ["auroc_ovr/x", "auroc_ovr/y", "auroc_ovr/z"]
    targets = rng.integers(-1, 2, (n, 2))
    many = [
        Predictions("multilabel", ["u", "v"], ["u", "v"], rng.uniform(size=(n, 2)), targets, ids)
        for _ in range(2)
    ]
    tests = delong_tests(*many)
    assert list(tests) == ["auroc_per_label/u", "auroc_per_label/v"]
    known = targets[:, 0] >= 0
    assert (
        tests["auroc_per_label/u"].positives + tests["auroc_per_label/u"].negatives == known.sum()
    )


def test_other_images_or_another_task_are_refused() -> None:
    a, b = binary_pair()
    other = Predictions("binary", ["pos"], ["neg", "pos"], b.probs, b.labels, [*b.ids[1:], "x"])
    with pytest.raises(UserError, match="same test images"):
        paired_bootstrap(a, other, 10, 0)
