"""Cross-validation runs (graytransfer.run.cv, graytransfer.cli.fold_sweep): `-m cv.folds=K`
is one sweep of the folds; each fold run writes folds.csv and its held-out fold's
oof_predictions.csv; `merge_oof` joins them with every non-test image once."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.configs import TINY_RUN, compose_config, run_train_py
from helpers.errors import user_message
from helpers.train_main import run_train_main

from graytransfer.cli import fold_sweep
from graytransfer.run import RunFolder, train
from graytransfer.run.cv import (
    FOLDS_FILE,
    OOF_FILE,
    fold_folders,
    merge_oof,
    write_sweep_folds,
)

# -- the sweep on the command line ----------------------------------------------------------


def test_multirun_with_folds_sweeps_every_fold() -> None:
    args = ["-m", "cv.folds=5", "adapt=sum"]
    assert fold_sweep(args) == [*args, "cv.fold=range(0,5)"]
    assert fold_sweep(["--multirun", "+cv.folds=3"])[-1] == "cv.fold=range(0,3)"


@pytest.mark.parametrize(
    "args",
    [
        ["-m", "cv.folds=5", "cv.fold=0,2"],  # the user's own folds
        ["cv.folds=5", "cv.fold=2"],  # one fold, one run
        ["cv.folds=0"],  # off
        ["adapt=sum"],
        ["cv.folds=5", "--cfg", "job"],  # only prints the config
    ],
)
def test_other_command_lines_are_left_alone(args: list[str]) -> None:
    assert fold_sweep(args) == args


def test_folds_without_multirun_or_with_two_counts_is_one_line() -> None:
    message = user_message(lambda: fold_sweep(["cv.folds=5"]))
    assert "add -m" in message and "cv.fold=K" in message
    assert "one fold count" in user_message(lambda: fold_sweep(["-m", "cv.folds=3,5"]))


def test_train_py_refuses_folds_without_multirun(tmp_path: Path) -> None:
    done = run_train_py("cv.folds=3", root=tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("graytransfer: error: cv.folds=3")
    assert not (tmp_path / "outputs").exists()


# -- a sweep root's fold folders and their out-of-fold predictions ------------------------


def _fold_run(root: Path, fold: int, folds: int, ids: list[str], status: str = "ok") -> Path:
    """A finished fold run folder as train.py leaves it (config, record, oof file)."""
    folder = root / str(fold)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"cv:\n  folds: {folds}\n  fold: {fold}\n")
    record = {"status": status, "metrics": {"test/acc": 0.5 + fold / 10, "val/acc": 0.6}}
    (folder / "metrics.json").write_text(json.dumps(record))
    rows = ["id,split,label,class,p_a,p_b,pred,pred_class"]
    rows += [f"{i},fold{fold},0,a,0.7,0.3,0,a" for i in ids]
    (folder / OOF_FILE).write_text("\n".join(rows) + "\n")
    return folder


def _sweep(root: Path) -> dict[int, list[str]]:
    ids = {0: ["x1", "x2"], 1: ["x3"], 2: ["x4", "x5", "x6"]}
    for fold in (2, 0, 1):  # made out of order: listed by fold
        _fold_run(root, fold, 3, ids[fold])
    return ids


def test_fold_folders_are_sorted_by_fold(tmp_path: Path) -> None:
    _sweep(tmp_path)
    (tmp_path / "other").mkdir()  # a run without cv is not a fold
    (tmp_path / "other" / "metrics.json").write_text("{}")
    assert fold_folders(tmp_path) == [tmp_path / "0", tmp_path / "1", tmp_path / "2"]


def test_merge_oof_has_every_image_once_with_its_fold(tmp_path: Path) -> None:
    ids = _sweep(tmp_path)
    merged = merge_oof(tmp_path)
    assert merged == tmp_path / OOF_FILE
    with merged.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0])[:3] == ["id", "split", "fold"]
    assert [(r["id"], r["fold"]) for r in rows] == [
        (i, str(k)) for k in sorted(ids) for i in ids[k]
    ]
    assert all(r["split"] == f"fold{r['fold']}" and r["p_a"] == "0.7" for r in rows)


def test_merge_refuses_a_missing_fold_a_repeated_image_and_no_folds(tmp_path: Path) -> None:
    assert "no cross-validation fold runs" in user_message(lambda: merge_oof(tmp_path))
    _fold_run(tmp_path / "a", 0, 3, ["x1"])
    _fold_run(tmp_path / "a", 2, 3, ["x2"])
    message = user_message(lambda: merge_oof(tmp_path / "a"))
    assert "fold(s) [1] of 3" in message and "cv.fold=1" in message
    _fold_run(tmp_path / "b", 0, 2, ["x1"])
    _fold_run(tmp_path / "b", 1, 2, ["x1"])
    assert "'x1' is in folds 0 and 1" in user_message(lambda: merge_oof(tmp_path / "b"))
    _fold_run(tmp_path / "c" / "s1", 0, 2, ["x1"])
    _fold_run(tmp_path / "c" / "s2", 0, 2, ["x1"])
    assert "two runs of fold 0" in user_message(lambda: fold_folders(tmp_path / "c"))


def test_sweep_folds_file_is_never_overwritten(tmp_path: Path) -> None:
    write_sweep_folds(tmp_path, "id,fold\r\na,0\r\n")
    write_sweep_folds(tmp_path, "id,fold\r\na,0\r\n")  # the same folds again: fine
    message = user_message(lambda: write_sweep_folds(tmp_path, "id,fold\r\na,1\r\n"))
    assert "holds other folds" in message
    assert (tmp_path / FOLDS_FILE).read_bytes() == b"id,fold\r\na,0\r\n"


# -- a fold run ------------------------------------------------------------------------------


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def test_a_fold_run_writes_its_folds_and_out_of_fold_predictions(tmp_path: Path) -> None:
    overrides = [*TINY_RUN, "logger=none", "cv.folds=3", "cv.fold=1", "eval.bootstrap=0"]
    folder = RunFolder(train(compose_config(overrides, tmp_path / "run"))["output_dir"])
    split = _rows(folder.path / RunFolder.SPLIT)
    folds = _rows(folder.path / FOLDS_FILE)
    oof = _rows(folder.path / OOF_FILE)
    val = [r["id"] for r in split if r["split"] == "val"]
    assert [r["id"] for r in oof] == val  # the held-out fold, in its order
    assert {r["id"] for r in folds if r["fold"] == "1"} == set(val)
    assert {r["id"] for r in folds} == {r["id"] for r in split if r["split"] != "test"}
    labels = {r["id"]: r["label"] for r in split}
    assert all(r["split"] == "fold1" and r["label"] == labels[r["id"]] for r in oof)
    probs = [[float(v) for k, v in r.items() if k.startswith("p_")] for r in oof]
    assert all(abs(sum(p) - 1) < 1e-4 for p in probs) and len(probs[0]) == 10
    head = (folder.path / RunFolder.PREDICTIONS).read_text().splitlines()[0]
    assert (folder.path / OOF_FILE).read_text().splitlines()[0] == head


@pytest.mark.slow
def test_train_py_multirun_folds_then_report_merges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`train.py -m cv.folds=2` in process (helpers.train_main: the real entry point, whose
    `fold_sweep` adds the folds), then the report merges the folds' predictions."""
    from graytransfer.tools.report import main as report

    args = ["-m", "cv.folds=2", *TINY_RUN, "logger=csv", "eval.bootstrap=20"]
    done = run_train_main(*args, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.code == 0, done.err[-3000:]
    (root,) = (tmp_path / "outputs" / "train" / "multiruns").iterdir()
    folders = fold_folders(root)
    assert [f.name for f in folders] == ["0", "1"]
    shared = (root / FOLDS_FILE).read_bytes()
    assert all((f / FOLDS_FILE).read_bytes() == shared for f in folders)
    tests = [[r["id"] for r in _rows(f / RunFolder.SPLIT) if r["split"] == "test"] for f in folders]
    assert tests[0] == tests[1]
    assert report([str(root)]) == 0
    merged = _rows(root / OOF_FILE)
    assert sorted(r["id"] for r in merged) == sorted(r["id"] for r in _rows(root / FOLDS_FILE))
    assert not {r["id"] for r in merged} & set(tests[0])
    text = (root / "report.md").read_text()
    assert "## Cross-validation (2 folds)" in text and "| `test/acc` |" in text
