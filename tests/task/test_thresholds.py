"""The threshold rules pick what they promise on validation scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, recall_score

from graytransfer.errors import UserError
from graytransfer.task.thresholds import choose_threshold, choose_thresholds


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
