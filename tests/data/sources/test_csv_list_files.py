"""CheXpert-style CSV lists: `data.csv={train: train.csv, val: valid.csv}` (one file per split,
paths relative to each file) and `data.group_pattern` (the patient from the image path)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.datafiles import noise, write_png8, write_table

from graytransfer.data import CsvDataModule
from graytransfer.data.sources.csv_rows import compile_group_pattern, group_from_path
from graytransfer.errors import UserError

HEADER = "Path,Sex,Age,label,split"


def chexpert_tree(root: Path, part: str, patients: range, per_patient: int = 2) -> list[tuple]:
    """PNGs at `<root>/<part>/patient000NN/study1/view<k>_frontal.png` and their CSV rows (paths
    relative to `root`): label by patient parity, Sex by patient, Age 30 + 5 * patient; every
    row's split cell says `test` (a mapped file's split column must not be read)."""
    rows = []
    for p in patients:
        for k in range(per_patient):
            name = f"{part}/patient{p:05d}/study1/view{k}_frontal.png"
            write_png8(root / name, noise(100 * p + k))
            rows.append((name, "FM"[p % 2], 30 + 5 * p, ["normal", "effusion"][p % 2], "test"))
    return rows


def two_files(tmp_path: Path) -> dict[str, str]:
    """train.csv (patients 0-11) beside its images; valid.csv (patients 20-23) in another
    folder with its own images, as CheXpert ships them."""
    train = write_table(tmp_path / "train.csv", HEADER, chexpert_tree(tmp_path, "train", range(12)))
    other = tmp_path / "elsewhere"
    valid = write_table(other / "valid.csv", HEADER, chexpert_tree(other, "valid", range(20, 24)))
    return {"train": str(train), "val": str(valid)}


def module(csv, **kwargs) -> CsvDataModule:
    data = CsvDataModule(
        csv=csv, path_column="Path", image_size=16, num_workers=0, test_split=0.25, **kwargs
    )
    data.setup("fit")
    return data


def patients(ids) -> set[str]:
    return {re.search(r"patient(\d+)", str(i)).group(1) for i in ids}


def test_each_file_is_its_split_and_paths_are_relative_to_it(tmp_path):
    data = module(two_files(tmp_path))
    assert patients(data.val_set.ids) == {"00020", "00021", "00022", "00023"}
    assert all((tmp_path / "elsewhere" / "valid") in Path(i).parents for i in data.val_set.ids)
    # the split column says "test" everywhere: the mapping decides, so test is carved from train
    assert len(data.test_set) == 6 and len(data.train_set) == 18
    assert data.columns == HEADER.split(",")


def test_group_pattern_keeps_each_patient_in_one_split(tmp_path):
    csv = write_table(tmp_path / "all.csv", HEADER, chexpert_tree(tmp_path, "train", range(16)))
    data = module(csv, group_pattern=r"patient(\d+)", split_column=None, val_split=0.25)
    assert set(data.groups.values()) == {f"{p:05d}" for p in range(16)}
    splits = [patients(s.ids) for s in (data.train_set, data.val_set, data.test_set)]
    assert all(not (a & b) for i, a in enumerate(splits) for b in splits[i + 1 :])
    assert sum(len(s) for s in splits) == 16


def test_group_pattern_with_split_files_groups_the_training_file(tmp_path):
    data = module(two_files(tmp_path), group_pattern=r"patient\d+")  # no (...): the whole match
    train_val = [patients(s.ids) for s in (data.train_set, data.test_set)]
    assert not (train_val[0] & train_val[1])
    assert set(data.groups.values()) >= {"patient00000", "patient00020"}


def test_group_from_path_first_capture_or_whole_match() -> None:
    path = "train/patient00042/study1/view1_frontal.jpg"
    assert group_from_path(re.compile(r"patient(\d+)"), path, "x") == "00042"
    assert group_from_path(re.compile(r"patient\d+"), path, "x") == "patient00042"
    with pytest.raises(UserError, match=r"^x: data.group_pattern 'case\(\\d\+\)' does not match "
                       r"the path 'train/patient00042/study1/view1_frontal.jpg'"):  # fmt: skip
        group_from_path(re.compile(r"case(\d+)"), path, "x")


def test_bad_group_pattern_and_file_mappings_are_one_line(tmp_path):
    files = two_files(tmp_path)
    stray = write_table(tmp_path / "stray.csv", HEADER, [("train/nobody/x.png", "F", 1, "a", "")])
    cases = [
        (dict(csv=str(stray), group_pattern=r"patient(\d+)"),
         r"stray.csv' line 2: data.group_pattern 'patient\(\\d\+\)' does not match the path "
         r"'train/nobody/x.png'"),
        (dict(csv=files, group_pattern="p(", group_column=None),
         r"^data.group_pattern 'p\(' is not a regular expression"),
        (dict(csv=files, group_pattern="p(\\d+)", group_column="Sex"),
         r"^data.group_pattern 'p\(\\d\+\)' and data.group_column 'Sex' both give the group"),
        (dict(csv={"train": files["train"], "holdout": files["val"]}),
         r"^data.csv: key 'holdout' is not a split \['train', 'val', 'test'\]"),
        (dict(csv=[files["train"], files["val"]]),
         r"^data.csv: \[.*\] is neither a CSV file nor a mapping of splits to files"),
    ]  # fmt: skip
    for kwargs, message in cases:
        with pytest.raises(UserError, match=message):
            module(**kwargs)


def test_an_image_in_two_files_is_one_line(tmp_path):
    files = two_files(tmp_path)
    rows = chexpert_tree(tmp_path, "train", range(1))  # patient 0 again, now in val
    valid = write_table(tmp_path / "valid.csv", HEADER, rows)
    message = r"' is listed in '.*train.csv' and in '.*valid.csv' \(line 2\)"
    with pytest.raises(
        UserError, match=r"^data.csv: 'train/patient00000/.*view0_frontal.png" + message
    ):
        module({"train": files["train"], "val": str(valid)})


def test_column_values_of_every_file(tmp_path):
    data = module(two_files(tmp_path))
    values = data.column_values(["Sex", "Age"])
    assert len(values) == 24 + 8
    image = tmp_path / "elsewhere" / "valid" / "patient00021" / "study1" / "view1_frontal.png"
    assert values[image] == {"Sex": "M", "Age": "135"}


def test_compile_group_pattern_unset_is_none() -> None:
    assert compile_group_pattern(None, "patient") is None
    assert compile_group_pattern("", None) is None
