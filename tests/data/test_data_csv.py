"""CsvDataModule: path,label[,split] rows with paths relative to the CSV."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.datafiles import noise, truncate, write_16bit, write_png8

from graytransfer.data import CsvDataModule
from graytransfer.errors import UserError


def write_csv(path, rows, header="path,label,split"):
    path.write_text(header + "\n" + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return path


def make(csv, **kwargs) -> CsvDataModule:
    data = CsvDataModule(csv=str(csv), image_size=16, num_workers=0, **kwargs)
    data.setup("fit")
    return data


def test_split_column_and_relative_paths(tmp_path):
    rows = []
    for i in range(12):
        label = "pneumonia" if i % 3 == 0 else "normal"
        write_png8(tmp_path / "img" / f"{i}.png", noise(i))
        rows.append((f"img/{i}.png", label, "val" if i in (0, 1, 2) else ""))
    data = make(write_csv(tmp_path / "list.csv", rows), test_split=0.25)
    assert data.class_names == ["normal", "pneumonia"]
    assert sorted(Path(p).name for p in data.val_set.ids) == ["0.png", "1.png", "2.png"]
    assert len(data.train_set) + len(data.test_set) == 9 and len(data.test_set) == 3
    assert data.train_set[0][0].dtype == torch.uint8


def test_numeric_labels_sort_numerically_and_no_split_column(tmp_path):
    for i in range(6):
        write_16bit(tmp_path / f"{i}.tif", noise(i, high=65536))
    rows = [(f"{tmp_path / f'{i}.tif'}", [2, 10][i % 2]) for i in range(6)]
    data = make(write_csv(tmp_path / "a.csv", rows, header="path,label"), val_split=0.0,
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
        make(csv)
    with pytest.warns(UserWarning, match=r"skipping 2 bad file"):
        data = make(csv, on_bad_file="skip", val_split=0.0, test_split=0.0)
    assert len(data.train_set) == 5


def test_csv_errors_name_the_line_or_column(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        make(tmp_path / "none.csv")
    with pytest.raises(UserError, match="column 'path'"):
        make(write_csv(tmp_path / "a.csv", [("x.png", 1)], header="file,label"))
    with pytest.raises(UserError, match="line 2: split 'holdout'"):
        make(write_csv(tmp_path / "b.csv", [("x.png", 1, "holdout")]))
    with pytest.raises(UserError, match="line 3: empty path or label"):
        make(write_csv(tmp_path / "c.csv", [("x.png", 1, ""), ("y.png", "", "")]))
