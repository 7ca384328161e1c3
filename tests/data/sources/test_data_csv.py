"""CsvDataModule: path,label[,split] rows with paths relative to the CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.datafiles import noise, truncate, write_16bit, write_png8
from helpers.datamodules import csv_module

from graytransfer.data import CsvDataModule
from graytransfer.errors import UserError


def write_csv(path, rows, header="path,label,split"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def test_split_column_and_relative_paths(tmp_path):
    rows = []
    for i in range(12):
        label = "pneumonia" if i % 3 == 0 else "normal"
        write_png8(tmp_path / "img" / f"{i}.png", noise(i))
        rows.append((f"img/{i}.png", label, "val" if i in (0, 1, 2) else ""))
    data = csv_module(write_csv(tmp_path / "list.csv", rows), test_split=0.25)
    assert data.class_names == ["normal", "pneumonia"]
    assert sorted(Path(p).name for p in data.val_set.ids) == ["0.png", "1.png", "2.png"]
    assert len(data.train_set) + len(data.test_set) == 9 and len(data.test_set) == 3
    assert data.train_set[0][0].dtype == torch.uint8


def test_numeric_labels_sort_numerically_and_no_split_column(tmp_path):
    for i in range(6):
        write_16bit(tmp_path / f"{i}.tif", noise(i, high=65536))
    rows = [(f"{tmp_path / f'{i}.tif'}", [2, 10][i % 2]) for i in range(6)]
    data = csv_module(write_csv(tmp_path / "a.csv", rows, header="path,label"), val_split=0.0,
                test_split=0.0)  # fmt: skip
    assert data.class_names == ["2", "10"]
    assert len(data.train_set) == 6


def test_missing_and_broken_files_are_bad_files(tmp_path):
    for i in range(6):
        write_png8(tmp_path / f"{i}.png", noise(i, (32, 32)))
    truncate(tmp_path / "5.png")
    rows = [(f"{i}.png", i % 2, "train") for i in range(6)] + [("gone.png", 0, "train")]
    csv = write_csv(tmp_path / "a.csv", rows)
    with pytest.raises(
        UserError, match=r"^2 bad file\(s\) in data.csv .*(gone\.png.*5\.png|5\.png.*gone\.png)"
    ):
        csv_module(csv)
    with pytest.warns(UserWarning, match=r"skipping 2 bad file"):
        data = csv_module(csv, on_bad_file="skip", val_split=0.0, test_split=0.0)
    assert len(data.train_set) == 5


def test_csv_errors_name_the_line_or_column(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        csv_module(tmp_path / "none.csv")
    with pytest.raises(UserError, match="column 'path'"):
        csv_module(write_csv(tmp_path / "a.csv", [("x.png", 1)], header="file,label"))
    with pytest.raises(UserError, match="line 2: split 'holdout'"):
        csv_module(write_csv(tmp_path / "b.csv", [("x.png", 1, "holdout")]))
    with pytest.raises(UserError, match="line 3: empty path or label"):
        csv_module(write_csv(tmp_path / "c.csv", [("x.png", 1, ""), ("y.png", "", "")]))


FINDINGS = ["Atelectasis", "Cardiomegaly", "Effusion"]


def chexpert_csv(tmp_path, n=40):
    """CheXpert-style: one column per finding (1, 0, -1 uncertain, blank) and a patient column
    with two or three images per patient."""
    rows = []
    for i in range(n):
        write_png8(tmp_path / "img" / f"{i}.png", noise(i))
        cells = [["1", "0", "-1", ""][(i + k) % 4] for k in range(len(FINDINGS))]
        rows.append((f"img/{i}.png", f"p{i // 3}", ["AP", "PA"][i % 2], *cells))
    header = "Path,Patient,View," + ",".join(FINDINGS)
    return write_csv(tmp_path / "chexpert.csv", rows, header=header)


def chexpert(csv, **kwargs) -> CsvDataModule:
    return csv_module(csv, path_column="Path", label_columns=FINDINGS, **kwargs)


def all_labels(data) -> dict[str, list]:
    return {
        Path(p).name: y.tolist()
        for s in (data.train_set, data.val_set, data.test_set)
        for p, y in zip(s.ids, s.labels, strict=True)
    }


@pytest.mark.parametrize(("uncertain", "value"), [("ones", 1), ("zeros", 0), ("ignore", -1)])
def test_chexpert_columns_and_uncertain_policy(tmp_path, uncertain, value):
    data = chexpert(chexpert_csv(tmp_path), uncertain=uncertain)
    assert data.class_names == FINDINGS
    labels = all_labels(data)
    # image 0: 1, 0, -1 ; image 1: 0, -1, blank ; blank is 0 (not mentioned) under every policy
    assert labels["0.png"] == [1, 0, value] and labels["1.png"] == [0, value, 0]
    assert data.train_set.labels.dtype == torch.int64 and data.train_set.labels.ndim == 2


def test_pipe_separated_labels_and_no_finding(tmp_path):
    names = ["Effusion|Atelectasis", "No Finding", "Cardiomegaly", "Atelectasis|Cardiomegaly"]
    rows = []
    for i in range(24):
        write_png8(tmp_path / f"{i}.png", noise(i))
        rows.append((f"{i}.png", names[i % 4]))
    data = csv_module(write_csv(tmp_path / "cxr14.csv", rows, header="Image Index,Finding Labels"),
                path_column="Image Index", label_column="Finding Labels", label_separator="|",
                val_split=0.25, test_split=0.25)  # fmt: skip
    assert data.class_names == ["Atelectasis", "Cardiomegaly", "Effusion"]
    labels = all_labels(data)
    assert labels["0.png"] == [1, 0, 1] and labels["1.png"] == [0, 0, 0]  # no finding: allowed
    for split in (data.train_set, data.val_set, data.test_set):  # iterative stratification
        assert (split.labels.sum(0) > 0).all()


def test_group_column_keeps_every_patient_in_one_split(tmp_path):
    """Patients p0..p13 hold 2-3 images each; no patient is in two splits, for a multi-label
    and for a one-label-per-image CSV."""
    csv = chexpert_csv(tmp_path)
    for data in (
        chexpert(csv, group_column="Patient", val_split=0.25, test_split=0.25),
        csv_module(
            csv,
            path_column="Path",
            label_column="View",
            group_column="Patient",
            val_split=0.25,
            test_split=0.25,
        ),  # fmt: skip
    ):
        patient = {f"{i}.png": f"p{i // 3}" for i in range(40)}
        owners = [
            {patient[Path(p).name] for p in s.ids}
            for s in (data.train_set, data.val_set, data.test_set)
        ]
        assert all(owners) and sum(len(o) for o in owners) == len(set().union(*owners)) == 14


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"label_columns": ["Atelectasis", "Cardiomegally"]},
         r"data.label_columns: column 'Cardiomegally' is not in .*did you mean 'Cardiomegaly'"),
        ({"label_columns": FINDINGS, "group_column": "patient"},
         r"data.group_column: column 'patient' .*did you mean 'Patient'"),
        ({"label_columns": FINDINGS, "uncertain": "maybe"}, r"data.uncertain: 'maybe'"),
        ({"label_columns": FINDINGS, "label_separator": "|"}, "two multi-label formats"),
    ],
)  # fmt: skip
def test_bad_multilabel_settings_are_one_line(tmp_path, kwargs, message):
    csv = chexpert_csv(tmp_path, n=4)
    with pytest.raises(UserError, match=message) as err:
        csv_module(csv, path_column="Path", **kwargs)
    assert "\n" not in str(err.value)


def test_label_value_outside_the_allowed_set_names_line_and_column(tmp_path):
    csv = chexpert_csv(tmp_path, n=4)
    csv.write_text(csv.read_text().replace("img/2.png,p0,AP,-1,", "img/2.png,p0,AP,yes,"))
    with pytest.raises(UserError, match=r"line 4 column 'Atelectasis': value 'yes' is not 1, 0"):
        chexpert(csv)


def test_group_in_two_given_splits_is_an_error(tmp_path):
    rows = []
    for i in range(6):
        write_png8(tmp_path / f"{i}.png", noise(i))
        rows.append(
            (f"{i}.png", i % 2, ["train", "val", "test"][i % 3], "p7" if i < 2 else f"q{i}")
        )
    csv = write_csv(tmp_path / "a.csv", rows, header="path,label,split,patient")
    with pytest.raises(UserError, match=r"group 'p7' is in both the train and the val split"):
        csv_module(csv, group_column="patient")
