"""Fast twins of the slow sweep runs (tests/run/test_sweep.py, test_run_folder_state.py): one
sweep job run in process by the real `run_job` with the real `train`, as job N of a multirun
(helpers.multirun). A failing job is recorded (`failed`, its error and traceback, a line in the
sweep's failed_jobs.jsonl) and the sweep goes on; a diverging one is recorded `diverged` and
counts as finished; `sweep.skip_finished` answers from the folder's record without training."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.configs import TINY_RUN, compose_config
from helpers.multirun import multirun_job
from hydra.errors import InstantiationException

from graytransfer.errors import UserError
from graytransfer.run import FAILED_JOBS, RunFolder, RunState, read_failed_jobs, train
from graytransfer.run.job import run_job

#: TINY_RUN with the NaN guard, as a sweep's job runs
JOB = [*TINY_RUN, "callbacks=[model_checkpoint,nan_guard]", "logger=none"]


def sweep_job(sweep_dir: Path, num: int, *swept: str, trainer=train) -> tuple[float, Path]:
    """Run job `num` of a sweep over `swept` with the real `run_job`: (objective, job folder)."""
    with multirun_job(sweep_dir, num, list(swept)) as job_dir:
        cfg = compose_config([*JOB, *swept], job_dir)
        return run_job(cfg, trainer), job_dir


def never_train(cfg) -> dict:
    raise AssertionError("a finished job was trained again")


def test_a_job_that_raises_is_recorded_as_failed_and_the_sweep_goes_on(
    tmp_path: Path, capsys
) -> None:
    value, job_dir = sweep_job(tmp_path, 0, "data.batch_size=0")
    assert value == -1.0e9  # the worst value for monitor.mode=max, never NaN
    folder = RunFolder(job_dir)
    record = folder.record()
    assert folder.state is RunState.FAILED and record["status"] == "failed"
    assert "batch_size" in record["error"] and "Traceback" in record["traceback"]
    assert "job failed" in capsys.readouterr().err
    [failed] = read_failed_jobs(tmp_path)
    assert failed.num == 0 and failed.overrides == ["data.batch_size=0"]
    assert failed.reason.startswith("data.batch_size: 0 must be")


def test_a_diverging_job_is_recorded_as_diverged_a_finished_result(tmp_path: Path) -> None:
    value, job_dir = sweep_job(tmp_path, 1, "optim.lr=1e30")
    folder = RunFolder(job_dir)
    assert value == -1.0e9
    assert folder.record()["status"] == "diverged" and folder.state is RunState.FINISHED
    assert not (tmp_path / FAILED_JOBS).exists()  # diverged is a result, not a failed job


def test_skip_finished_answers_from_the_record_without_training(tmp_path: Path, capsys) -> None:
    folder = RunFolder(tmp_path / "0")
    folder.path.mkdir()
    folder.write_record({"status": "ok", "monitor": {"best": 0.5}})
    value, _ = sweep_job(tmp_path, 0, "sweep.skip_finished=true", trainer=never_train)
    assert value == 0.5 and "already holds a finished run; skipped" in capsys.readouterr().err
    folder.record_file.write_text('{"status": "ok", "mon')  # unreadable: finished, no value
    with pytest.raises(UserError, match="not a readable run record"):
        sweep_job(tmp_path, 0, "sweep.skip_finished=true", trainer=never_train)
    # without skip_finished the job runs (and here its trainer says so)
    with pytest.raises(AssertionError, match="trained again"):
        sweep_job(tmp_path, 0, "sweep.continue_on_failure=false", trainer=never_train)


def test_outside_a_multirun_the_error_propagates_and_nothing_is_recorded(tmp_path: Path) -> None:
    cfg = compose_config([*JOB, "data.batch_size=0"], tmp_path / "run")
    with pytest.raises((UserError, InstantiationException), match="batch_size"):
        run_job(cfg, train)
    assert not RunFolder(tmp_path / "run").record_file.exists()
    assert not (tmp_path / FAILED_JOBS).exists()
