"""bench.multilabel_pairs: real digit pairs in both CSV layouts give the same label matrix."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.datamodules import csv_module

from bench.multilabel_pairs import main, write_pairs
from graytransfer.errors import UserError


def test_pipe_and_column_layouts_hold_the_same_labels(tmp_path, capsys) -> None:
    main(["--out", str(tmp_path / "pipe"), "--count", "40"])
    main(["--out", str(tmp_path / "cols"), "--count", "40", "--layout", "columns"])
    assert "wrote 40 images" in capsys.readouterr().out
    whole = {"val_split": 0.0, "test_split": 0.0}  # every image in the train set
    pipe = csv_module(
        tmp_path / "pipe" / "pairs.csv", label_column="Finding Labels", label_separator="|", **whole
    )
    cols = csv_module(
        tmp_path / "cols" / "pairs.csv", label_columns=[str(d) for d in range(10)], **whole
    )
    assert pipe.class_names == cols.class_names == [str(d) for d in range(10)]
    pairs = zip(pipe.train_set.ids, pipe.train_set.labels, strict=True)
    by_name = {p.split("/")[-1]: y.tolist() for p, y in pairs}
    for path, labels in zip(cols.train_set.ids, cols.train_set.labels, strict=True):
        assert by_name[path.split("/")[-1]] == labels.tolist()
    counts = np.array(list(by_name.values())).sum(1)
    assert set(counts) <= {1, 2} and 2 in counts  # one or two classes present per image
    image, _ = pipe.train_set[0]
    assert image.shape == (1, 16, 16)


def test_a_bad_layout_is_one_line(tmp_path) -> None:
    with pytest.raises(UserError, match="--layout: 'grid' is not pipe or columns"):
        write_pairs(tmp_path, layout="grid")
