"""predictions.csv's columns for each task, with and without a group column."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from graytransfer.evaluation.predictions import Predictions, groups_of


def test_multiclass_rows_with_groups() -> None:
    ids = ["/d/a.png", "/d/b.png"]
    groups = groups_of(ids, {Path("/d/a.png"): "p1", Path("/d/b.png"): "p2"})
    preds = Predictions(
        "multiclass", ["cat", "dog"], ["cat", "dog"], [[0.3, 0.7], [0.9, 0.1]], [0, 0], ids,
        groups=groups,
    )  # fmt: skip
    header, *rows = preds.rows()
    assert header == [
        "id",
        "group",
        "split",
        "label",
        "class",
        "p_cat",
        "p_dog",
        "pred",
        "pred_class",
    ]
    assert rows[0] == ["/d/a.png", "p1", "test", 0, "cat", "0.3", "0.7", 1, "dog"]
    assert rows[1][-2:] == [0, "cat"]


def test_binary_rows_decide_at_the_stored_threshold() -> None:
    preds = Predictions(
        "binary", ["sick"], ["well", "sick"], [[0.35], [0.2]], [1, 0], ["a", "b"], [0.3]
    )
    header, *rows = preds.rows()
    assert header == ["id", "split", "label", "p_sick", "pred_sick"]
    assert rows == [["a", "test", 1, "0.35", 1], ["b", "test", 0, "0.2", 0]]


def test_multilabel_rows_keep_unknown_labels() -> None:
    preds = Predictions(
        "multilabel", ["x", "y"], ["x", "y"], [[0.6, 0.1]], [[1, -1]], ["a"], [0.5, 0.05]
    )
    header, row = preds.rows()
    assert header == ["id", "split", "x", "y", "p_x", "p_y", "pred_x", "pred_y"]
    assert row == ["a", "test", 1, -1, "0.6", "0.1", 1, 1]


def test_no_group_column_no_groups() -> None:
    assert groups_of(["a"], None) is None
    assert np.array_equal(
        Predictions("binary", ["s"], ["w", "s"], [[0.5]], [1], ["a"]).decisions, [[1]]
    )
