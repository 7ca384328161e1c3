"""CheXpert-style CSV lists: `data.csv={train: train.csv, val: valid.csv}` (one file per split,
paths relative to each file), `data.csv=[train.csv, valid.csv]` (each file's split from its
name) and `data.group_pattern` (the patient from the image path)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers.datafiles import noise, write_png8, write_table
from hydra.utils import instantiate
from omegaconf import OmegaConf

from graytransfer.data import CsvDataModule
from graytransfer.data.fold_sets import hold_out_fold
from graytransfer.data.sources.csv_files import split_of_name
from graytransfer.data.sources.csv_rows import compile_group_pattern, group_from_path
from graytransfer.data.split.folds import CrossValidation
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


# --- data.csv as a list: each file's split from its name ---------------------------------------


def split_ids(data: CsvDataModule) -> dict[str, list[str]]:
    return {s: sorted(getattr(data, f"{s}_set").ids) for s in ("train", "val", "test")}


def test_split_of_name_is_the_stems_last_word() -> None:
    names = {"train.csv": "train", "VALID.csv": "val", "chexpert_test.csv": "test",
             "cxr-validation.csv": "val", "site2 val.csv": "val", "labels.csv": None,
             "/d/train/labels.csv": None, "retrain.csv": None}  # fmt: skip
    assert {name: split_of_name(name) for name in names} == names
    ambiguous = {
        "train_val.csv": r"names more than one split \(train, val\)",
        "valid_labels.csv": "names split 'val' by a word that is not its last",
    }
    for name, why in ambiguous.items():
        message = rf"^data.csv: the list element '{name}' is ambiguous: its file name {why}; a "
        with pytest.raises(UserError, match=message + "list takes each file's split from the last"):
            split_of_name(name)


def test_list_gives_the_mapping_forms_splits_and_groups(tmp_path):
    mapping = two_files(tmp_path)  # train.csv + elsewhere/valid.csv, CheXpert's patient paths
    kwargs = dict(group_pattern=r"patient(\d+)")
    by_map = module(mapping, **kwargs)
    by_list = module(OmegaConf.create({"csv": list(mapping.values())}).csv, **kwargs)
    assert split_ids(by_list) == split_ids(by_map)
    assert patients(by_list.val_set.ids) == {"00020", "00021", "00022", "00023"}
    assert len(by_list.test_set) == 6  # carved from train: no split column read in named files
    assert by_list.groups == by_map.groups and by_list.columns == HEADER.split(",")
    assert by_list.csv == list(mapping.values())


def test_hydra_list_override_reaches_the_data_module(make_cfg, tmp_path):
    files = two_files(tmp_path)
    listed = f"data.csv=[{files['train']},{files['val']}]"
    options = ["data.path_column=Path", "data.num_workers=0", "data.test_split=0.25"]
    cfg = make_cfg("data=csv", listed, *options)
    data = instantiate(cfg.data, image_size=[16, 16])
    data.setup("fit")
    assert split_ids(data) == split_ids(module(files))


def test_same_split_files_add_up_and_unnamed_files_read_their_split_column(tmp_path):
    files = two_files(tmp_path)
    more = write_table(
        tmp_path / "more_TRAIN.csv", HEADER, chexpert_tree(tmp_path, "x", range(40, 44))
    )
    rows = chexpert_tree(tmp_path, "y", range(50, 54))
    rows = [(*r[:4], "val" if i < 2 else "") for i, r in enumerate(rows)]
    plain = write_table(tmp_path / "labels.csv", HEADER, rows)  # no split in its name
    data = module([files["train"], str(more), str(plain), files["val"]])
    assert patients(data.train_set.ids) | patients(data.test_set.ids) == (
        {f"{p:05d}" for p in [*range(12), *range(40, 44), *range(50, 54)]}
    ) - {"00050"}  # patient 50's two images are val by labels.csv's split column
    assert patients(data.val_set.ids) == {"00020", "00021", "00022", "00023", "00050"}
    again = write_table(
        tmp_path / "again_train.csv", HEADER, chexpert_tree(tmp_path, "x", range(43, 44))
    )
    with pytest.raises(
        UserError, match=r"^data.csv: 'x/patient00043/.*' is listed in '.*more_TRAIN"
    ):
        module([files["train"], str(more), str(again)])


def test_cv_folds_of_a_list_match_the_mapping_and_keep_its_test_file(tmp_path):
    files = two_files(tmp_path)
    test = write_table(
        tmp_path / "cxr_test.csv", HEADER, chexpert_tree(tmp_path, "t", range(30, 33))
    )
    folded = []
    for csv in ({**files, "test": str(test)}, [files["train"], str(test), files["val"]]):
        data = module(csv, group_pattern=r"patient(\d+)")
        hold_out_fold(data, CrossValidation(2, 1))
        folded.append((split_ids(data), data.folds_csv))
    assert folded[0] == folded[1]
    ids, text = folded[1]
    assert patients(ids["test"]) == {"00030", "00031", "00032"}
    assert not patients(ids["train"]) & patients(ids["val"])
    assert "patient00030" not in text and "patient00000" in text and "patient00020" in text


def test_bad_lists_are_one_line_naming_the_three_forms(tmp_path):
    files = two_files(tmp_path)
    forms = (
        r"give data.csv=FILE \(one file; its split column decides\), data.csv=\{train: "
        r"train.csv, val: valid.csv\} or data.csv=\[train.csv,valid.csv\] \(each file's"
    )
    cases = [
        ([], r"^data.csv: the list is empty; " + forms),
        ([files["train"], {"val": files["val"]}],
         r"^data.csv: the list element \{'val': '.*valid.csv'\} is not a CSV file path; " + forms),
        ([files["train"], 3], r"^data.csv: the list element 3 is not a CSV file path"),
        ([files["train"], " "], r"^data.csv: the list element ' ' is not a CSV file path"),
        ([files["train"], str(tmp_path / "train_valid.csv")],
         r"^data.csv: the list element '.*train_valid.csv' is ambiguous: .*rename the file, or "
         + forms),
        ([files["train"], files["val"], files["train"]],
         r"^data.csv: '.*train.csv' is given twice; give each CSV file once"),
        (7, r"^data.csv: 7 is neither a CSV file, a mapping of splits to files nor a list of "
            r"files; " + forms),
    ]  # fmt: skip
    for csv, message in cases:
        with pytest.raises(UserError, match=message):
            module(csv)
