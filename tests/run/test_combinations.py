"""Where choices meet: an all-pairs matrix of config choices, each cell taken through train (one
batch per stage) -> evaluate -> predict -> export (TorchScript, cheaper than ONNX: no
onnxruntime session), or refused before any work in one line that `REFUSALS` expects.

The choices come from conf/ itself (helpers/combinations.py `choices_from_conf`): every file of
conf/task, conf/intensity, conf/adapt and conf/logger, every single-callback file of
conf/callbacks as an on/off switch, every CPU trainer of conf/trainer; plus the data paths
written on disk once per session and two small models. A new YAML file joins by existing.

The covering array is built greedily in helpers/combinations.py (`covering_array` says why not
allpairspy): deterministic, every allowed pair in a cell that runs, and a pair no allowed cell
can hold is an error until a refusal names it. The DDP trainer (2 processes) is added to few
cells that together hold every other choice (`covering_array`), so the matrix stays within
minutes on 2 cores.

Run the matrix: `python -m pytest tests/run/test_combinations.py` (it is `slow`; the generator's
tests are not). docs/combinations.md has the table of refused combinations.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest
from helpers.combinations import (
    CALLBACK_PREFIX,
    DATA_CHOICE,
    NOT_IN_MATRIX,
    OFF,
    ON,
    REFUSALS,
    cell_id,
    choices_from_conf,
    describe,
    expected_refusals,
    matrix,
    pairs_of,
    refused,
)
from helpers.configs import CONF, REPO
from helpers.forked_train import forked_train
from helpers.matrix_cells import (
    in_process,
    in_processes,
    needs_processes,
    write_data,
)

CELLS = matrix(CONF)
DOCS = REPO / "docs" / "combinations.md"


# ---- the generator (fast) ----------------------------------------------------------------------


def test_every_choice_of_every_group_is_in_a_cell_that_runs() -> None:
    choices = choices_from_conf(CONF)
    running = [cell for cell in CELLS if not refused(cell)]
    for group, values in choices.items():
        for value in values:
            assert any(cell[group] == value for cell in running), f"{group}={value} never runs"
    assert choices["trainer"] == ["cpu", "ddp_cpu"]
    assert {"none", "percentile", "dicom_window"} <= set(choices["intensity"])
    assert len(choices["adapt"]) == len(list((CONF / "adapt").glob("*.yaml")))


def test_every_pair_runs_or_is_a_listed_refusal() -> None:
    choices = choices_from_conf(CONF)
    running: set = set()
    seen: set = set()
    for cell in CELLS:
        assert set(cell) == set(choices)
        seen |= pairs_of(cell)
        if not refused(cell):
            running |= pairs_of(cell)
    groups = sorted(choices)
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            for a in choices[first]:
                for b in choices[second]:
                    pair = ((first, a), (second, b))
                    if pair in running:
                        continue
                    assert pair in seen, f"{first}={a} with {second}={b} is in no cell"
                    assert any(
                        set(r.when) <= {first, second} and r.matches(dict(pair)) for r in REFUSALS
                    ), f"{first}={a} with {second}={b} only meets in refused cells"


def test_ddp_meets_every_other_choice_in_few_cells() -> None:
    ddp = [cell for cell in CELLS if needs_processes(cell)]
    assert ddp and len(ddp) <= 2 * max(len(v) for v in choices_from_conf(CONF).values())
    assert not any(refused(cell) for cell in ddp)


def test_a_new_yaml_file_joins_the_matrix(tmp_path: Path) -> None:
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "adapt" / "zz_new.yaml").write_text((conf / "adapt" / "repeat.yaml").read_text())
    (conf / "logger" / "zz_new.yaml").write_text((conf / "logger" / "csv.yaml").read_text())
    (conf / "callbacks" / "zz_new.yaml").write_text(
        "zz_new:\n  _target_: lightning.pytorch.callbacks.LearningRateMonitor\n"
    )
    cells = matrix(conf)
    assert any(cell["adapt"] == "zz_new" and not refused(cell) for cell in cells)
    assert any(cell["logger"] == "zz_new" and not refused(cell) for cell in cells)
    switched = {cell[CALLBACK_PREFIX + "zz_new"] for cell in cells if not refused(cell)}
    assert switched == {ON, OFF}


def test_every_conf_data_file_is_a_data_path_or_left_out_with_a_reason() -> None:
    files = {p.stem for p in (CONF / "data").glob("*.yaml")}
    unknown = files - set(DATA_CHOICE.values()) - set(NOT_IN_MATRIX)
    assert not unknown, f"conf/data/{sorted(unknown)}: add a data path or a NOT_IN_MATRIX reason"


def test_the_docs_list_every_refusal() -> None:
    text = DOCS.read_text()
    for refusal in REFUSALS:
        assert refusal.name in text, f"docs/combinations.md lacks the refusal '{refusal.name}'"
        assert f"`{refusal.message}`" in text, f"docs/combinations.md lacks {refusal.message}"


# ---- `python train.py` as a fork of the test process (the ddp_cpu cells; fast) -----------------


def test_a_forked_train_answers_as_python_train_py_and_leaves_this_process_alone(
    tmp_path: Path,
) -> None:
    before = (dict(os.environ), Path.cwd(), list(sys.argv))
    done = forked_train("data=folder", root=tmp_path)
    assert done.code == 2, done.output
    last = done.output.strip().splitlines()[-1]
    assert last.startswith("graytransfer: error: data.root is required"), done.output
    assert (dict(os.environ), Path.cwd(), list(sys.argv)) == before


def test_a_forked_train_past_its_timeout_is_killed(tmp_path: Path) -> None:
    done = forked_train("data=folder", root=tmp_path, timeout_s=0)
    assert done.code == -9
    assert "killed after 0 s" in done.output


# ---- the matrix (slow) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def matrix_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every data path's files, written once per session (shards with tools.shards' run)."""
    pytest.importorskip("pydicom", reason="the dicom extra: pip install 'graytransfer[dicom]'")
    pytest.importorskip("litdata", reason="the shards extra: pip install 'graytransfer[shards]'")
    return write_data(tmp_path_factory.mktemp("combinations"))


@pytest.mark.slow
@pytest.mark.parametrize("cell", CELLS, ids=[cell_id(cell) for cell in CELLS])
def test_cell_runs_end_to_end_or_is_refused_in_one_line(
    cell: dict[str, str], matrix_data: Path, tmp_path: Path
) -> None:
    run = in_processes if needs_processes(cell) else in_process
    outcome = run(cell, matrix_data, tmp_path)
    combination = describe(cell)
    if outcome.status == "failed":
        pytest.fail(
            f"{combination}\nfailed at {outcome.stage}: {outcome.message}\n{outcome.detail}",
            pytrace=False,
        )
    expected = expected_refusals(cell)
    if not expected:
        assert outcome.status == "ok", (
            f"{combination}\nrefused at {outcome.stage}, not in REFUSALS: {outcome.message}"
        )
        return
    names = ", ".join(r.name for r in expected)
    assert outcome.status == "refused", f"{combination}\nran end to end; expected: {names}"
    assert any(
        outcome.stage == r.stage and re.search(r.message, outcome.message) for r in expected
    ), f"{combination}\nrefused at {outcome.stage} with '{outcome.message}'; expected: {names}"
