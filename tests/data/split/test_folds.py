"""k-fold cross-validation folds (graytransfer.data.split.folds, graytransfer.data.fold_sets):
stratified, grouped, iteratively stratified for multi-label, fixed by the seed (0 included);
a set-up data module's train+val pool folded with its test split untouched; one-line refusals."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from helpers.errors import user_message
from PIL import Image
from torch.utils.data import TensorDataset

from graytransfer.data import CsvDataModule
from graytransfer.data.fold_sets import hold_out_fold
from graytransfer.data.sources.digits import DigitsDataModule
from graytransfer.data.split.folds import CrossValidation, assign_folds, folds_csv


def _labels(counts: list[int]) -> np.ndarray:
    return np.repeat(np.arange(len(counts)), counts)


def test_every_image_in_one_fold_each_class_spread_evenly() -> None:
    labels = _labels([23, 17, 40])
    fold_of = assign_folds(labels, 5, seed=0)
    assert fold_of.shape == labels.shape and set(fold_of.tolist()) == set(range(5))
    for c in range(3):
        per_fold = np.bincount(fold_of[labels == c], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1  # stratified


def test_seed_fixes_the_folds_and_zero_is_a_seed() -> None:
    labels = _labels([30, 30])
    zero = assign_folds(labels, 3, seed=0)
    assert np.array_equal(zero, assign_folds(labels, 3, seed=0))
    assert not np.array_equal(zero, assign_folds(labels, 3, seed=1))
    # seed 0 is not "no seed": the images are shuffled, not cut in their given order
    assert not np.array_equal(zero, StratifiedInOrder(labels, 3))


def StratifiedInOrder(labels: np.ndarray, folds: int) -> np.ndarray:  # noqa: N802
    from sklearn.model_selection import StratifiedKFold

    out = np.empty(len(labels), dtype=int)
    for k, (_, held) in enumerate(StratifiedKFold(folds).split(labels, labels)):
        out[held] = k
    return out


def test_groups_never_share_a_fold() -> None:
    rng = np.random.default_rng(0)
    groups = [f"patient{i // 3}" for i in range(60)]  # 20 patients, 3 images each
    labels = np.array([(i // 3) % 2 for i in range(60)])
    labels[rng.choice(60, 5, replace=False)] ^= 1  # patients with images of both classes
    fold_of = assign_folds(labels, 4, seed=0, groups=groups)
    for group in set(groups):
        assert len({fold_of[i] for i, g in enumerate(groups) if g == group}) == 1
    assert set(fold_of.tolist()) == set(range(4))


def test_multilabel_folds_keep_every_label_in_every_fold() -> None:
    rng = np.random.default_rng(1)
    matrix = (rng.random((120, 4)) < [0.5, 0.2, 0.1, 0.05]).astype(int)
    matrix[:, 3][:10] = 1
    matrix[rng.random((120, 4)) < 0.05] = -1  # unknowns count as negatives
    fold_of = assign_folds(matrix, 5, seed=0)
    for label in range(4):
        positives = np.bincount(fold_of[matrix[:, label] == 1], minlength=5)
        assert positives.min() >= 1, f"label {label}: {positives}"
        assert positives.max() - positives.min() <= 2  # iteratively stratified
    groups = [f"g{i // 4}" for i in range(120)]
    grouped = assign_folds(matrix, 5, seed=0, groups=groups)
    for group in set(groups):
        assert len({grouped[i] for i, g in enumerate(groups) if g == group}) == 1


def test_too_many_folds_for_a_class_or_the_groups_is_one_line() -> None:
    message = user_message(lambda: assign_folds(_labels([10, 3, 8]), 5, seed=0))
    assert "cv.folds=5" in message and "class 1 has 3" in message
    groups = [f"p{i % 3}" for i in range(30)]
    message = user_message(lambda: assign_folds(_labels([15, 15]), 4, seed=0, groups=groups))
    assert "cv.folds=4" in message and "3 group(s)" in message
    matrix = np.zeros((30, 2), dtype=int)
    matrix[:, 0], matrix[:2, 1] = 1, 1
    message = user_message(lambda: assign_folds(matrix, 3, seed=0))
    assert "cv.folds=3" in message and "label 1 has 2" in message


@pytest.mark.parametrize(
    ("folds", "fold", "words"),
    [
        (5, 5, "cv.fold=5 is outside 0..4"),
        (5, -1, "outside 0..4"),
        (5, None, "with -m on the command line"),
        (0, 2, "cv.fold=2 needs cv.folds"),
        (1, 0, "cv.folds: 1"),
        ("5", 0, "cv.folds: '5'"),
    ],
)
def test_cv_settings_are_checked(folds, fold, words) -> None:
    assert words in user_message(lambda: CrossValidation(folds=folds, fold=fold))


def _digits(fold: int | None, folds: int = 5) -> DigitsDataModule:
    data = DigitsDataModule(image_size=8, seed=0, augment="light")
    data.setup()
    hold_out_fold(data, CrossValidation(folds, fold) if fold is not None else CrossValidation())
    return data


def test_digits_folds_hold_out_fold_k_and_keep_the_test_split() -> None:
    plain = _digits(None)
    pool = set(plain.train_set.ids) | set(plain.val_set.ids)
    vals = []
    for k in range(5):
        data = _digits(k)
        assert data.test_set.ids == plain.test_set.ids  # the test split never moves
        train, val = set(data.train_set.ids), set(data.val_set.ids)
        assert not train & val and train | val == pool
        rows = list(csv.DictReader(io.StringIO(data.folds_csv)))
        assert {r["id"] for r in rows if r["fold"] == str(k)} == val
        assert data.train_set.transform is data.train_transform  # training augmentation
        assert data.val_set.transform is None
        i = data.val_set.ids.index(data.val_set.ids[3])
        assert torch.equal(data.val_set.images[i], _image_of(plain, data.val_set.ids[3]))
        vals.append(val)
    assert set().union(*vals) == pool and sum(map(len, vals)) == len(pool)


def _image_of(data: DigitsDataModule, item: str) -> torch.Tensor:
    for split in (data.train_set, data.val_set):
        if item in split.ids:
            return split.images[split.ids.index(item)]
    raise KeyError(item)


def test_grouped_csv_folds_keep_patients_and_the_csv_test_split(tmp_path: Path) -> None:
    lines = ["path,label,patient,split"]
    for p in range(16):
        for i in range(2):
            name = f"p{p}_{i}.png"
            Image.fromarray(np.full((12, 12), 40 + 10 * p, np.uint8)).save(tmp_path / name)
            split = "test" if p >= 13 else ""
            lines.append(f"{name},{'ab'[p % 2]},patient{p},{split}")
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    kwargs = dict(csv=str(tmp_path / "list.csv"), image_size=12, num_workers=0, cache=False)
    plain = CsvDataModule(group_column="patient", **kwargs)
    plain.setup()
    data = CsvDataModule(group_column="patient", **kwargs)
    data.setup()
    hold_out_fold(data, CrossValidation(3, 1))
    assert data.test_set.ids == plain.test_set.ids
    assert all(Path(i).name.startswith(("p13", "p14", "p15")) for i in data.test_set.ids)
    patients = {s: {data.groups[Path(i)] for i in getattr(data, f"{s}_set").ids} for s in SPLITS}
    assert not patients["train"] & patients["val"]
    rows = list(csv.DictReader(io.StringIO(data.folds_csv)))
    assert list(rows[0]) == ["id", "group", "fold"] and len(rows) == 26
    assert data.train_set[0][0].shape == (1, 12, 12)


SPLITS = ("train", "val", "test")


def test_data_that_cannot_be_folded_is_refused_in_one_line() -> None:
    pair = TensorDataset(torch.zeros(4, 1, 8, 8, dtype=torch.uint8), torch.zeros(4))
    shards = SimpleNamespace(train_set=pair, val_set=pair, test_set=pair, seed=0)
    message = user_message(lambda: hold_out_fold(shards, CrossValidation(2, 0)))
    assert "cv.folds=2" in message and "cannot be folded" in message


def test_folds_csv_names_group_when_given() -> None:
    text = folds_csv(["a", "b"], np.array([1, 0]), ["p1", "p2"])
    assert text.splitlines() == ["id,group,fold", "a,p1,1", "b,p2,0"]
    assert folds_csv(["a"], np.array([0]), None).splitlines() == ["id,fold", "a,0"]


def test_multilabel_csv_folds_keep_each_images_labels(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["path,A,B"]
    for i in range(40):
        Image.fromarray(rng.integers(0, 255, (10, 10), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        lines.append(f"{i}.png,{int(i % 2 == 0)},{int(i % 5 == 0)}")
    (tmp_path / "list.csv").write_text("\n".join(lines) + "\n")
    data = CsvDataModule(
        csv=str(tmp_path / "list.csv"),
        label_columns=["A", "B"],
        image_size=10,
        cache=False,
        num_workers=0,
        test_split=0.2,
        val_split=0.2,
    )
    data.setup()
    test_ids = list(data.test_set.ids)
    hold_out_fold(data, CrossValidation(4, 2))
    assert data.test_set.ids == test_ids
    for split in (data.train_set, data.val_set):
        assert split.labels.shape[1] == 2
        for item, row in zip(split.ids, split.labels.tolist(), strict=True):
            i = int(Path(item).stem)
            assert row == [int(i % 2 == 0), int(i % 5 == 0)]
    assert data.val_set.labels[:, 1].sum() >= 1  # the rare label reaches the held-out fold
