"""`eval.subgroups` end to end: a multi-label CSV run with synthetic Sex and Age columns writes
every test metric per subgroup into metrics.json, subgroups.csv, the summary and its logger, and
the columns into predictions.csv; tools.evaluate does the same; bad subgroup input stops the run
in one line before any training."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from helpers.configs import TEST_NET, compose_config
from helpers.datafiles import noise, write_png8, write_table
from helpers.task_data import task_overrides
from helpers.trained_fixture import compose_task

from graytransfer.errors import UserError
from graytransfer.run import RunFolder, train
from graytransfer.tools.evaluate import evaluate


def with_sex_and_age(table: Path, seed: int = 0) -> dict[str, dict[str, str]]:
    """Add `Sex` (by patient) and `Age` (20-89, by patient) columns to the CSV `table`; returns
    {path: {Sex, Age}} as written."""
    rows = list(csv.DictReader(table.open(newline="")))
    rng = np.random.default_rng(seed)
    ages = {p: str(rng.integers(20, 90)) for p in {r["patient"] for r in rows}}
    for row in rows:
        row["Sex"] = "F" if int(row["patient"][1:]) % 2 else "M"
        row["Age"] = ages[row["patient"]]
    with table.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return {r["path"]: {"Sex": r["Sex"], "Age": r["Age"]} for r in rows}


def multilabel_run(root: Path, *extra: str) -> list[str]:
    data = task_overrides("multilabel", root)
    return [
        *TEST_NET,
        *data,
        "data.group_column=patient",
        "data.batch_size=32",
        "callbacks=[model_checkpoint]",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        *extra,
    ]


@pytest.mark.slow
def test_multilabel_run_scores_every_subgroup(tmp_path: Path, capsys) -> None:
    overrides = multilabel_run(tmp_path)
    table = Path(next(o for o in overrides if o.startswith("data.csv=")).split("=", 1)[1])
    cells = with_sex_and_age(table)
    wanted = ["eval.subgroups=[Sex,Age]", "eval.bins={Age:[40,60]}", "eval.bootstrap=100"]
    info = train(compose_config([*overrides, *wanted, "logger=csv"], tmp_path / "run"))
    folder = RunFolder(info["output_dir"])
    record = json.loads(folder.record_file.read_text())
    found = record["subgroups"]
    assert set(found) == {"Sex", "Age"}
    assert set(found["Age"]) <= {"<40", "40-60", ">=60"}
    predictions = list(csv.DictReader((folder.path / RunFolder.PREDICTIONS).open(newline="")))
    for row in predictions:  # each image's own CSV cells
        assert {k: row[k] for k in ("Sex", "Age")} == cells[str(Path(row["id"]).relative_to(
            table.parent))]  # fmt: skip
    tested = len(predictions)
    assert sum(entry["n"] for entry in found["Sex"].values()) == tested
    for value, entry in found["Sex"].items():
        mine = [r for r in predictions if r["Sex"] == value]
        assert entry["n"] == len(mine) and entry["groups"] == len({r["group"] for r in mine})
        macro = record["metrics"]["test/auroc"]
        if entry["test/auroc"] is not None:
            assert entry["test/auroc_gap"] == pytest.approx(entry["test/auroc"] - macro)
        assert "test/auroc_per_label/0" in entry
    rows = list(csv.DictReader((folder.path / RunFolder.SUBGROUPS).open(newline="")))
    assert {(r["column"], r["subgroup"]) for r in rows} == {
        (c, v) for c, values in found.items() for v in values
    }
    (logged,) = folder.path.glob("csv/version_*/metrics.csv")
    header = next(csv.reader(logged.open(newline="")))
    assert any(h.startswith("test/subgroup/Sex/") and h.endswith("/auroc") for h in header)
    assert "test metrics per subgroup" in capsys.readouterr().out

    out = tmp_path / "eval"  # tools.evaluate of the run's checkpoint: the same subgroups
    overrides = [f"ckpt_path={record['best_checkpoint']}", "logger=none", *wanted]
    scored = evaluate(compose_task("evaluate", overrides, out))
    assert scored["subgroups"]["Sex"]["F"]["n"] == found["Sex"]["F"]["n"]
    assert scored["subgroups"]["Sex"]["F"]["test/f1"] == pytest.approx(found["Sex"]["F"]["test/f1"])
    assert (out / RunFolder.SUBGROUPS).is_file()


def test_tiny_csv_run_records_its_subgroups(tmp_path: Path) -> None:
    """The fast check of the plumbing: record, subgroups.csv and predictions.csv columns."""
    rows = [(f"img/{i}.png", "ab"[i % 2], "FM"[i // 2 % 2]) for i in range(24)]
    for i, (name, _, _) in enumerate(rows):
        write_png8(tmp_path / name, noise(i, (16, 16)) // (1 + i % 2))
    table = write_table(tmp_path / "list.csv", "path,label,Sex", rows)
    overrides = [*TEST_NET, "data=csv", f"data.csv={table}", "data.num_workers=0",
                 "data.test_split=0.5", "data.val_split=0.2", "callbacks=[model_checkpoint]",
                 "trainer.max_epochs=1", "trainer.enable_progress_bar=false", "logger=none",
                 "eval.subgroups=[Sex]", "eval.bootstrap=20"]  # fmt: skip
    info = train(compose_config(overrides, tmp_path / "run"))
    folder = RunFolder(info["output_dir"])
    record = json.loads(folder.record_file.read_text())
    predictions = list(csv.DictReader((folder.path / RunFolder.PREDICTIONS).open(newline="")))
    sexes = {Path(r[0]).name: r[2] for r in rows}
    assert [r["Sex"] for r in predictions] == [sexes[Path(r["id"]).name] for r in predictions]
    found = record["subgroups"]["Sex"]
    assert {v: e["n"] for v, e in found.items()} == {
        v: sum(r["Sex"] == v for r in predictions) for v in ("F", "M")
    }
    assert (folder.path / RunFolder.SUBGROUPS).is_file()


def test_bad_subgroups_stop_the_run_before_training(tmp_path: Path) -> None:
    overrides = multilabel_run(tmp_path, "logger=none")
    table = Path(next(o for o in overrides if o.startswith("data.csv=")).split("=", 1)[1])
    with_sex_and_age(table)
    cases = [
        (["eval.subgroups=[Race]"],
         r"^eval.subgroups: column 'Race' is not in data.csv '.*pairs.csv' \(columns: \['path', "
         r"'patient', 'Finding Labels', 'Sex', 'Age'\]\)$"),
        (["eval.subgroups=[Sex]", "eval.bins={Sex:[1]}"],
         r"^eval.bins.Sex: column 'Sex' holds '[FM]', not a number"),
    ]  # fmt: skip
    for n, (extra, message) in enumerate(cases):
        with pytest.raises(UserError, match=message):
            train(compose_config([*overrides, *extra], tmp_path / f"bad{n}"))
        assert not (tmp_path / f"bad{n}" / "checkpoints").exists()  # refused before training


def test_subgroups_of_data_without_columns_is_one_line(tmp_path: Path) -> None:
    overrides = [*TEST_NET, "logger=none", "eval.subgroups=[Sex]", "trainer.max_epochs=1"]
    message = r"\(data=csv\), but DigitsDataModule has none; unset eval.subgroups$"
    with pytest.raises(UserError, match=r"^eval.subgroups=\['Sex'\] needs CSV columns " + message):
        train(compose_config(overrides, tmp_path / "run"))
    assert not (tmp_path / "run" / "checkpoints").exists()
