"""The bootstrap's intervals: seeded, groups kept whole, and about 95% coverage of a known true
AUROC on synthetic binormal scores (positives ~ N(1, 1), negatives ~ N(0, 1): the true AUROC is
Phi(1 / sqrt(2)) = 0.7602)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from graytransfer.errors import UserError
from graytransfer.evaluation.bootstrap import Bootstrap, resample_counts, resampled_indices
from graytransfer.evaluation.predictions import Predictions

TRUE_AUROC = 0.5 * (1 + math.erf(1 / math.sqrt(2) / math.sqrt(2)))  # Phi(1/sqrt(2))


def _binormal(rng: np.random.Generator, per_class: int, groups=None) -> Predictions:
    labels = np.r_[np.ones(per_class, int), np.zeros(per_class, int)]
    scores = rng.normal(labels.astype(float), 1.0)
    probs = 1 / (1 + np.exp(-scores))  # monotone: the same AUROC
    ids = [str(i) for i in range(len(labels))]
    return Predictions(
        "binary", ["pos"], ["neg", "pos"], probs[:, None], labels, ids, np.array([0.5]), groups
    )


def test_true_auroc() -> None:
    assert round(TRUE_AUROC, 4) == 0.7602


def test_same_seed_same_interval_other_seed_other() -> None:
    preds = _binormal(np.random.default_rng(0), 50)
    first = Bootstrap(200, seed=7).intervals(preds)
    assert first.bounds == Bootstrap(200, seed=7).intervals(preds).bounds
    assert first.bounds != Bootstrap(200, seed=8).intervals(preds).bounds
    assert Bootstrap(200).intervals(preds, run_seed=7).bounds == first.bounds  # the run's seed
    low, high = first.bounds["auroc"]
    assert 0.5 < low < high < 1
    assert first.record()["over"] == "images" and first.record()["seed"] == 7


def test_group_resamples_keep_groups_whole() -> None:
    """Every resampled index set holds each group's images all together, as often as the group
    was drawn, and as many groups as the data has."""
    groups = [f"patient{i // 3}" for i in range(30)]  # 10 patients, 3 images each
    members = {g: {i for i, h in enumerate(groups) if h == g} for g in set(groups)}
    for counts in resample_counts(len(groups), groups, 50, seed=1):
        for row in counts:
            index = resampled_indices(row)
            drawn = {g: [int((index == i).sum()) for i in sorted(m)] for g, m in members.items()}
            assert all(len(set(times)) == 1 for times in drawn.values()), drawn
            assert sum(times[0] for times in drawn.values()) == 10
            assert len(index) == 30


def test_image_resamples_draw_with_replacement() -> None:
    counts = next(resample_counts(40, None, 20, seed=0))
    assert (counts.sum(axis=1) == 40).all()
    assert (counts.max(axis=1) > 1).any()  # an image drawn twice: with replacement


def test_group_interval_is_wider_for_correlated_images() -> None:
    """Images of one patient that share a score are one observation, not many: resampling whole
    groups gives a wider interval than resampling images."""
    rng = np.random.default_rng(3)
    one = _binormal(rng, 30)
    copies = 5
    grouped = Predictions(
        "binary",
        one.names,
        one.class_names,
        np.repeat(one.probs, copies, axis=0),
        np.repeat(one.labels, copies),
        [f"{i}-{j}" for i in one.ids for j in range(copies)],
        one.thresholds,
        [i for i in one.ids for _ in range(copies)],
    )
    by_group = Bootstrap(300, seed=0).intervals(grouped)
    ungrouped = Predictions(**{**grouped.__dict__, "groups": None})
    by_image = Bootstrap(300, seed=0).intervals(ungrouped)
    width = lambda iv: iv.bounds["auroc"][1] - iv.bounds["auroc"][0]  # noqa: E731
    assert by_group.over == "groups" and by_group.units == 60
    assert width(by_group) > 1.5 * width(by_image)


def test_coverage_of_a_known_auroc() -> None:
    """100 repetitions (n = 200: 100 positives, 100 negatives; 200 resamples each): the 95%
    interval covers the true AUROC 88 to 99 times."""
    rng = np.random.default_rng(2024)
    covered = 0
    for repetition in range(100):
        preds = _binormal(rng, 100)
        low, high = Bootstrap(200, seed=repetition).intervals(preds).bounds["auroc"]
        covered += low <= TRUE_AUROC <= high
    assert 88 <= covered <= 99, covered


def test_metric_left_out_of_single_class_resamples_is_counted() -> None:
    """With two positives among 40 images many resamples hold none: AUROC is computed on the
    others only, and the record names the count when it is under 90%."""
    labels = np.r_[np.ones(1, int), np.zeros(39, int)]
    probs = np.linspace(0.9, 0.1, 40)[:, None]
    ids = [str(i) for i in range(40)]
    preds = Predictions("binary", ["pos"], ["neg", "pos"], probs, labels, ids, np.array([0.5]))
    intervals = Bootstrap(200, seed=0).intervals(preds)
    assert 0 < intervals.counted["auroc"] < 180
    assert intervals.record()["counted_when_few"]["auroc"] == intervals.counted["auroc"]
    assert intervals.counted["specificity"] == 200


@pytest.mark.parametrize(
    ("values", "key"),
    [({"bootstrap": -1}, "eval.bootstrap"), ({"confidence": 1.5}, "eval.confidence")],
)
def test_bad_settings_name_their_key(values, key) -> None:
    with pytest.raises(UserError, match=key):
        Bootstrap(**values)


def test_zero_resamples_gives_no_intervals() -> None:
    assert Bootstrap(0).intervals(_binormal(np.random.default_rng(0), 5)) is None


def _recorded_inputs() -> dict[str, Predictions]:
    """The fixed inputs whose intervals were recorded before the vectorised rewrite of
    `evaluation.weighted` (scores on a 0.01 grid: ties; groups of 3; unknown labels)."""
    rng = np.random.default_rng(11)
    n, ids = 150, [str(i) for i in range(150)]
    labels = rng.integers(0, 4, n)
    logits = rng.normal(size=(n, 4))
    logits[np.arange(n), labels] += 1
    probs = np.round(np.exp(logits) / np.exp(logits).sum(1, keepdims=True), 2)
    names = ["a", "b", "c", "d"]
    binary = rng.integers(0, 2, n)
    p = np.round(1 / (1 + np.exp(-(binary + rng.normal(size=n)))), 2)[:, None]
    groups = [f"g{i // 3}" for i in range(n)]
    many = rng.integers(-1, 2, (n, 3))
    pm = np.round(rng.random((n, 3)) * 0.6 + 0.4 * (many == 1), 2)
    xyz = ["x", "y", "z"]
    return {
        "multiclass": Predictions("multiclass", names, names, probs, labels, ids),
        "binary": Predictions("binary", ["pos"], ["neg", "pos"], p, binary, ids, [0.5], groups),
        "multilabel": Predictions("multilabel", xyz, xyz, pm, many, ids, [0.5, 0.4, 0.6]),
    }


#: Bootstrap(300, seed=5) on `_recorded_inputs()` with the per-resample implementation
#: (reduceat over sorted blocks, np.add.at counts) before it was made faster: the speed-up
#: must not move an interval (only AP's and ECE's last bits, from the order of summation)
RECORDED = {
    "multiclass": {
        "acc": (0.49650000000000005, 0.6533333333333333),
        "f1": (0.47909174526384446, 0.6374458053390706),
        "auroc": (0.7484168849646281, 0.8458593546197039),
        "ap": (0.5221396443789575, 0.6701141882474542),
        "ece": (0.08279333333333333, 0.19489999999999996),
        "brier": (0.52098775, 0.6425603000000001),
    },
    "binary": {
        "auroc": (0.6555559197912236, 0.7988061350482655),
        "ap": (0.5894661350262275, 0.8003475809636145),
        "sensitivity": (0.6756252627154267, 0.8551725781845919),
        "ece": (0.110365, 0.22907999999999995),
    },
    "multilabel": {
        "auroc": (0.9233341410375204, 0.9665398218263834),
        "ap": (0.9280471413771882, 0.9714490484409762),
        "ap_per_label/y": (0.8777571080536486, 0.9691786440359016),
        "auroc_per_label/z": (0.938474771678041, 0.9902363683568666),
        "ece": (0.1618092176435975, 0.21284171851889974),
        "brier_per_label/x": (0.09812834950859951, 0.14014076330941255),
    },
}


@pytest.mark.parametrize("task", list(RECORDED))
def test_intervals_are_the_ones_recorded_before_the_speed_up(task) -> None:
    intervals = Bootstrap(300, seed=5).intervals(_recorded_inputs()[task])
    for name, bounds in RECORDED[task].items():
        assert intervals.bounds[name] == pytest.approx(bounds, rel=1e-12, abs=0), name
        assert intervals.counted[name] == 300
