"""Where CSV choices meet: repeated rows x split column x group column x label format.

Each case is a small, exact CSV with one known answer (an error naming the file, key and value,
or splits where no image and no group crosses train/val/test). They are listed as examples
rather than generated (allpairs, hypothesis): every case is a different expected message, and
the odd inputs that matter (an image listed twice, one group, no label at all, `1.5` among
class numbers) are the ones issue 25 found; a generator would have to rediscover them.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.datafiles import numbered_pngs, write_table
from helpers.datamodules import csv_module

from graytransfer.cli import user_error_in
from graytransfer.data import CsvDataModule
from graytransfer.errors import UserError
from graytransfer.run import train

#: a tiny random-init model, so a case that gets as far as building the model stays fast
SMALL = ["model=timm", "model.name=test_efficientnet", "model.pretrained=false", "logger=none"]


def one_line_error(run: Callable[[], object]) -> str:
    """The one-line UserError `run` raises (also when Hydra's instantiate wrapped it)."""
    with pytest.raises(Exception) as info:
        run()
    found = user_error_in(info.value)
    assert found is not None, f"not a UserError: {info.value!r}"
    assert "\n" not in str(found)
    return str(found)


def split_ids(data: CsvDataModule) -> dict[str, list[str]]:
    return {
        name: [Path(p).name for p in s.ids]
        for name, s in (("train", data.train_set), ("val", data.val_set), ("test", data.test_set))
    }


# ---- an image listed twice (issue 25 item 4) -------------------------------------------------


def listed_twice(tmp_path: Path) -> Path:
    """20 images, labels 0/1; images 0, 1, 2 listed again at the end (0 twice more, once
    spelled `./img/0.png`): 4 repeated rows of 3 images."""
    names = numbered_pngs(tmp_path / "img", 20)
    rows = [(n, i % 2) for i, n in enumerate(names)]
    rows += [(names[0], 0), (names[1], 1), (names[2], 0), ("./" + names[0], 0)]
    return write_table(tmp_path / "list.csv", "path,label", rows)


def test_an_image_listed_twice_is_an_error_naming_it(tmp_path):
    csv = listed_twice(tmp_path)
    with pytest.raises(UserError) as err:
        csv_module(csv)
    message = str(err.value)
    assert "\n" not in message
    assert f"data.csv '{csv}' lists 3 image(s) more than once" in message
    assert "'img/0.png' (lines 2, 22, 25)" in message and "'img/1.png' (lines 3, 23)" in message
    assert "data.duplicates=drop" in message


def test_duplicates_drop_keeps_each_image_once_and_never_splits_it_apart(tmp_path):
    csv = listed_twice(tmp_path)
    with pytest.warns(UserWarning, match=r"dropped 4 repeated row\(s\) of 3 image\(s\)") as caught:
        data = csv_module(csv, duplicates="drop", val_split=0.25, test_split=0.25)
    assert any("'img/0.png' (lines 2, 22, 25)" in str(w.message) for w in caught)
    ids = [name for names in split_ids(data).values() for name in names]
    assert sorted(ids) == sorted(f"{i}.png" for i in range(20))  # each image once, in one split


@pytest.mark.parametrize("duplicates", ["error", "drop"])
@pytest.mark.parametrize(
    ("second", "what", "values"),
    [
        (("img/3.png", 0, "", "p3"), "labels", "('1' on line 5, '0' on line 22)"),
        (("img/3.png", 1, "test", "p3"), "splits", "('train' on line 5, 'test' on line 22)"),
        (("img/3.png", 1, "", "q"), "groups", "('p3' on line 5, 'q' on line 22)"),
    ],
)
def test_rows_of_one_image_that_disagree_are_an_error_either_way(
    tmp_path, duplicates, second, what, values
):
    names = numbered_pngs(tmp_path / "img", 20)
    rows = [(n, i % 2, "", f"p{i}") for i, n in enumerate(names)] + [second]
    csv = write_table(tmp_path / "list.csv", "path,label,split,patient", rows)
    with pytest.raises(UserError) as err:
        csv_module(csv, duplicates=duplicates, group_column="patient")
    assert str(err.value) == (
        f"data.csv '{csv}' lists 'img/3.png' with different {what} {values}; an image has one: "
        "fix or remove one of the rows"
    )


def test_duplicates_setting_is_checked(tmp_path):
    with pytest.raises(UserError, match=r"data.duplicates: 'keep' is not one of \['error'"):
        CsvDataModule(csv=str(tmp_path / "a.csv"), duplicates="keep")


# ---- labels: repeated columns, no label at all, class numbers (items 10 and 12) ---------------


def test_repeated_label_columns_are_refused(tmp_path):
    with pytest.raises(UserError) as err:
        CsvDataModule(csv=str(tmp_path / "a.csv"), label_columns=["A", "A", "B"])
    assert str(err.value) == (
        "data.label_columns: 'A' is listed 2 times in ['A', 'A', 'B']; name each label column once"
    )


@pytest.mark.parametrize(
    ("odd", "shown"),
    [("1.5", "'1.5' (line 13)"), ("x", "'x' (line 13)"), ("--1", "'--1' (line 13)")],
)
def test_a_non_integer_among_class_numbers_is_refused(tmp_path, odd, shown):
    names = numbered_pngs(tmp_path / "img", 12)
    labels = [i % 3 for i in range(11)] + [odd]
    csv = write_table(tmp_path / "a.csv", "path,label", list(zip(names, labels, strict=True)))
    with pytest.raises(UserError) as err:
        csv_module(csv)
    assert str(err.value) == (
        f"data.csv '{csv}': column 'label' holds class numbers, but 1 label(s) are not "
        f"integers: {shown}; write each label as a whole number (or every label as a class name)"
    )


def test_one_class_number_written_two_ways_is_refused(tmp_path):
    names = numbered_pngs(tmp_path / "img", 12)
    labels = [i % 2 for i in range(11)] + ["01"]
    csv = write_table(tmp_path / "a.csv", "path,label", list(zip(names, labels, strict=True)))
    with pytest.raises(UserError, match=r"line 13: label '01' in column 'label' is class 1, also"):
        csv_module(csv)


def test_class_names_and_class_numbers_still_load(tmp_path):
    """Names (a number among them, a minority) and numbers ("-1" too) are both fine."""
    names = numbered_pngs(tmp_path / "img", 12)
    for labels, classes in (
        (["cat", "dog", "3"] * 4, ["3", "cat", "dog"]),
        ([-1, 0, 10] * 4, ["-1", "0", "10"]),
    ):
        rows = list(zip(names, labels, strict=True))
        data = csv_module(
            write_table(tmp_path / "a.csv", "path,label", rows), val_split=0, test_split=0
        )
        assert data.class_names == classes


def test_a_separated_label_column_without_any_label_is_refused(tmp_path):
    names = numbered_pngs(tmp_path / "img", 12)
    rows = [(n, "No Finding" if i % 3 else "") for i, n in enumerate(names)]
    csv = write_table(tmp_path / "a.csv", "Image Index,Finding Labels", rows)
    with pytest.raises(UserError) as err:
        csv_module(
            csv, path_column="Image Index", label_column="Finding Labels", label_separator="|"
        )
    assert str(err.value) == (
        f"data.csv '{csv}': no row of column 'Finding Labels' names a label (every cell is blank "
        "or 'No Finding', data.no_label), so there is nothing to learn; check data.label_column "
        "and data.label_separator ('|')"
    )


# ---- groups x split column (item 12) ---------------------------------------------------------


def grouped(tmp_path: Path, patients: list[str], splits: list[str] | None = None) -> Path:
    """One image per entry of `patients` (labels alternate 0/1), `splits` in a split column."""
    names = numbered_pngs(tmp_path / "img", len(patients))
    splits = splits or [""] * len(patients)
    rows = [(n, i % 2, splits[i], p) for i, (n, p) in enumerate(zip(names, patients, strict=True))]
    return write_table(tmp_path / "a.csv", "path,label,split,patient", rows)


def test_a_group_split_with_a_single_group_is_refused(tmp_path):
    csv = grouped(tmp_path, ["p0"] * 12)
    with pytest.raises(UserError) as err:
        csv_module(csv, group_column="patient")
    assert str(err.value) == (
        f"data.group_column 'patient' of data.csv '{csv}': the 12 training image(s) belong to 1 "
        "group(s) ('p0'), too few to split by group into train/val/test (data.val_split=0.2, "
        "data.test_split=0.1; each group goes to one split): add images of more groups, give "
        "the splits in the split column, set data.val_split=0 and data.test_split=0, or unset "
        "data.group_column"
    )


def test_group_count_counts_only_the_splits_to_carve(tmp_path):
    """Two groups cannot make train, val and test; with the test split given in the split
    column they make train and val, one patient each (both patients mostly class 0, so the
    groups can be stratified)."""
    with pytest.raises(UserError, match=r"2 group\(s\) \('p0', 'p1'\), too few .* train/val/test"):
        csv_module(grouped(tmp_path, ["p0", "p0", "p1", "p1"] * 3), group_column="patient")
    patients = ["p0", "p0", "p1", "p1"] * 3 + ["p2"] * 4
    data = csv_module(
        grouped(tmp_path, patients, [""] * 12 + ["test"] * 4),
        group_column="patient",
        val_split=0.3,
    )
    owner = {f"{i}.png": p for i, p in enumerate(patients)}
    groups = {name: {owner[i] for i in ids} for name, ids in split_ids(data).items()}
    assert groups["test"] == {"p2"} and len(groups["train"]) == len(groups["val"]) == 1
    assert groups["train"] != groups["val"]


# ---- the same refusals through the real config and the training entry point ------------------


def no_finding(tmp_path: Path) -> list[str]:
    names = numbered_pngs(tmp_path / "img", 8)
    csv = write_table(tmp_path / "a.csv", "path,labels", [(n, "No Finding") for n in names])
    return ["task=multilabel", f"data.csv={csv}", "data.label_column=labels",
            "data.label_separator='|'"]  # fmt: skip


def non_integer(tmp_path: Path) -> list[str]:
    names = numbered_pngs(tmp_path / "img", 8)
    rows = [(n, [0, 1, 0, 1, 0, 1, 0, 0.5][i]) for i, n in enumerate(names)]
    return [f"data.csv={write_table(tmp_path / 'a.csv', 'path,label', rows)}"]


def repeated_columns(tmp_path: Path) -> list[str]:
    names = numbered_pngs(tmp_path / "img", 8)
    rows = [(n, i % 2, i // 2 % 2) for i, n in enumerate(names)]
    csv = write_table(tmp_path / "a.csv", "path,A,B", rows)
    return ["task=multilabel", f"data.csv={csv}", "data.label_columns=[A,A,B]"]


def one_group(tmp_path: Path) -> list[str]:
    return [f"data.csv={grouped(tmp_path, ['p0'] * 8)}", "data.group_column=patient"]


def twice(tmp_path: Path) -> list[str]:
    return [f"data.csv={listed_twice(tmp_path)}"]


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (twice, ["lists 3 image(s) more than once", "data.duplicates=drop"]),
        (repeated_columns, ["data.label_columns: 'A' is listed 2 times"]),
        (one_group, ["data.group_column 'patient'", "1 group(s) ('p0')"]),
        (no_finding, ["no row of column 'labels' names a label"]),
        (non_integer, ["column 'label' holds class numbers", "'0.5' (line 9)"]),
    ],
)
def test_bad_csv_choices_stop_train_in_one_line(make_cfg, tmp_path, case, expected):
    overrides = case(tmp_path)
    cfg = make_cfg(*SMALL, "data=csv", "data.num_workers=0", *overrides)
    message = one_line_error(lambda: train(cfg))
    for part in expected:
        assert part in message


def test_duplicates_drop_through_the_real_config(make_cfg, tmp_path):
    """`data.duplicates` is a key of conf/data/csv.yaml; `drop` gets as far as the data."""
    from hydra.utils import instantiate

    cfg = make_cfg(*SMALL, "data=csv", "data.num_workers=0", *twice(tmp_path),
                   "data.duplicates=drop")  # fmt: skip
    assert cfg.data.duplicates == "drop"
    data = instantiate(cfg.data)
    with pytest.warns(UserWarning, match="dropped 4 repeated row"):
        data.setup("fit")
    assert sum(len(s) for s in (data.train_set, data.val_set, data.test_set)) == 20
