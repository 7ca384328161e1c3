"""Sweeps through the real CLI: a `-m` grid, a failing job, submitit's local launcher, Optuna.

The sweeps run `train.py -m ...` in process (helpers.train_main: the real `@hydra.main` entry,
its sweeper, launcher and callbacks, `exit_on_user_error`), on one torch thread; submitit's job
still runs in a process of its own."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.configs import TEST_NET
from helpers.train_main import Exit, run_train_main
from omegaconf import OmegaConf, open_dict

from graytransfer.config import compose
from graytransfer.errors import LossNotFinite, UserError
from graytransfer.run import (
    FAILED_JOBS,
    FailedJob,
    SweepFailures,
    failure_record,
    objective,
    read_failed_jobs,
    run_status,
    sweep_identity,
    worst_objective,
)
from graytransfer.tools.report import main as report_main

#: a tiny job: timm's random-init test EfficientNet on 16x16 digits, one batch of each stage
TINY = [
    *TEST_NET,
    "trainer.fast_dev_run=1",
    "trainer.enable_progress_bar=false",
    "~callbacks.rich_progress_bar",
]


@pytest.fixture
def sweep_cli(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Exit]:
    """`sweep_cli(*args, sweep="sweep", status=0)`: `train.py -m ARGS` in process, writing
    under `tmp_path`; asserts the exit `status`."""

    def run(*args: str, sweep: str = "sweep", status: int = 0) -> Exit:
        done = run_train_main(
            "-m",
            *args,
            *TINY,
            f"paths.log_dir={tmp_path}/logs",
            f"hydra.sweep.dir={tmp_path}/{sweep}",
            root=tmp_path,
            monkeypatch=monkeypatch,
            capsys=capsys,
        )
        assert done.code == status, done.out[-3000:] + done.err[-3000:]
        return done

    return run


def metrics_by_job(sweep: Path) -> dict[str, dict]:
    return {
        str(p.parent.relative_to(sweep)): json.loads(p.read_text())
        for p in sweep.rglob("metrics.json")
        if "wandb" not in p.parts
    }


def test_status_and_objective_rules() -> None:
    cfg = OmegaConf.create({"monitor": {"metric": "val/acc", "mode": "max"}, "sweep": {}})
    assert run_status({"train/loss_epoch": 0.3, "val/loss": 0.4}, 0.9) == "ok"
    assert run_status({"train/loss_epoch": None, "val/loss": 0.4}, 0.9) == "diverged"
    assert run_status({"val/loss": float("nan")}, 0.9) == "diverged"
    assert run_status({"val/loss": 0.4}, None) == "diverged"
    assert objective({"status": "ok", "monitor": {"best": 0.75}}, cfg) == 0.75
    assert objective({"status": "diverged", "monitor": {"best": 0.75}}, cfg) == -1.0e9
    assert objective({"status": "failed", "monitor": {"best": None}}, cfg) == -1.0e9
    low = OmegaConf.create({"monitor": {"mode": "min"}, "sweep": {"failed_objective": None}})
    assert worst_objective(low) == 1.0e9
    fixed = OmegaConf.create({"monitor": {"mode": "max"}, "sweep": {"failed_objective": -1}})
    assert worst_objective(fixed) == -1.0
    assert sweep_identity() is None  # not inside a Hydra multirun


def test_a_job_is_diverged_by_its_error_type_not_its_name() -> None:
    """`LossNotFinite` and its subclasses make a `diverged` record; any other error, even one
    whose class is also named LossNotFinite, a `failed` one."""

    class NamedAlike(Exception):
        pass

    NamedAlike.__name__ = "LossNotFinite"

    class Subclass(LossNotFinite):
        pass

    cfg = OmegaConf.create(
        {"seed": 0, "monitor": {"metric": "val/acc", "mode": "max"}, "paths": {"output_dir": "x"}}
    )
    assert failure_record(cfg, LossNotFinite("loss became nan"))["status"] == "diverged"
    assert failure_record(cfg, Subclass("nan"))["status"] == "diverged"
    assert failure_record(cfg, NamedAlike("nan"))["status"] == "failed"
    assert failure_record(cfg, UserError("data.root is required"))["status"] == "failed"


@pytest.mark.slow
def test_grid_runs_every_job_grouped_in_wandb_and_reports(tmp_path: Path, sweep_cli) -> None:
    done = sweep_cli("adapt=repeat,sum", "seed=0,1")
    sweep = tmp_path / "sweep"
    runs = metrics_by_job(sweep)
    assert sorted(runs) == ["0", "1", "2", "3"]
    assert {(r["strategy"], r["seed"], r["status"]) for r in runs.values()} == {
        ("repeat", 0, "ok"),
        ("repeat", 1, "ok"),
        ("sum", 0, "ok"),
        ("sum", 1, "ok"),
    }
    assert done.out.count("Launching 4 jobs") + done.err.count("Launching 4 jobs") == 1
    for job in runs:
        (wandb_run,) = (sweep / job / "wandb").glob("offline-run-*")  # one W&B run per job
        data = next(wandb_run.glob("*.wandb")).read_bytes()
        assert b"train-sweep" in data  # W&B group: the task and the sweep folder's name
        assert (sweep / job / "confusion_matrix.png").exists()

    assert report_main([str(sweep)]) == 0
    table = (sweep / "report.md").read_text()
    assert "| timm | random init | repeat | 2 |" in table  # model: the config choice
    assert "| timm | random init | sum | 2 |" in table
    assert (sweep / "report.png").stat().st_size > 0


@pytest.mark.slow
def test_a_widened_sweep_with_skip_finished_trains_only_the_missing_jobs(
    tmp_path: Path, sweep_cli
) -> None:
    sweep_cli("seed=0", "logger=none")
    first = (tmp_path / "sweep" / "0" / "metrics.json").read_bytes()
    done = sweep_cli("seed=0,1", "sweep.skip_finished=true", "logger=none")
    runs = metrics_by_job(tmp_path / "sweep")
    assert (tmp_path / "sweep" / "0" / "metrics.json").read_bytes() == first  # not retrained
    assert runs["1"]["seed"] == 1 and runs["1"]["status"] == "ok"
    assert done.err.count("already holds a finished run; skipped") == 1
    machine = runs["1"]["machine"]  # where the numbers came from, in every run's record
    assert machine["device"] == "cpu" and machine["torch_threads"] == 1
    assert len(machine["load_at_start"]) == 3 and machine["cpu_model"]


@pytest.mark.slow
def test_a_job_that_raises_is_recorded_and_the_sweep_goes_on(tmp_path: Path, sweep_cli) -> None:
    # job 0 raises (batch size 0), job 1 runs; the sweep then exits 1 naming job 0
    done = sweep_cli("data.batch_size=0,16", status=1)
    runs = metrics_by_job(tmp_path / "sweep")
    assert runs["0"]["status"] == "failed"
    assert "batch_size" in runs["0"]["error"]
    assert "Traceback" in runs["0"]["traceback"]
    assert runs["1"]["status"] == "ok"
    assert "job failed" in done.err and "the sweep goes on" in done.err
    summary = done.err[done.err.index("sweep job(s) failed") :].splitlines()
    assert summary[0].startswith("sweep job(s) failed, exit status 1")
    assert summary[1].startswith("  job 0 (data.batch_size=0): data.batch_size: 0 must be")
    assert len(summary) == 2 and "Traceback" not in done.err
    # with fail_exit=false the same failure ends with exit status 0 (the failing job alone)
    again = sweep_cli("data.batch_size=0", "sweep.fail_exit=false", sweep="old")
    assert "1 sweep job(s) failed, exit status 0" in again.err


def failed_jobs_file(sweep_dir: Path, *jobs: FailedJob) -> None:
    sweep_dir.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(dataclasses.asdict(job)) for job in jobs]
    (sweep_dir / FAILED_JOBS).write_text("\n".join([*lines, "not a record"]) + "\n")


def test_a_sweep_with_a_failed_job_ends_with_its_summary_and_exit_status_1(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """The end of a multirun (Hydra's on_multirun_end) reads the jobs' failure lines: status 1
    and one line per failed job, in job order; `sweep.fail_exit=false` keeps exit 0."""
    sweep_dir = tmp_path / "sweep"
    bad = FailedJob(2, ["optim.lr=-1", "seed=1", "tags=[a]"], "optim.lr=-1 is not valid", "s/2")
    other = FailedJob(0, ["optim.lr=0.1", "seed=0", "tags=[a]"], "RuntimeError: boom", "s/0")
    failed_jobs_file(sweep_dir, bad, other)
    # the command line as typed: optim.lr and seed are swept, tags is the same for every job
    cfg = compose([f"hydra.sweep.dir={sweep_dir}", "tags=[a]"], with_hydra=True)
    with open_dict(cfg):
        cfg.hydra.overrides.task = ["optim.lr=0.1,-1", "seed=range(0,2)", "tags=[a]"]
    assert "SweepFailures" in cfg.hydra.callbacks.sweep_failures._target_  # on by default
    with pytest.raises(SystemExit) as stop:
        SweepFailures().on_multirun_end(config=cfg)
    assert stop.value.code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [
        "graytransfer: 2 sweep job(s) failed, exit status 1 (sweep.fail_exit=false exits 0):",
        "  job 0 (optim.lr=0.1 seed=0): RuntimeError: boom [s/0]",
        "  job 2 (optim.lr=-1 seed=1): optim.lr=-1 is not valid [s/2]",
    ]
    keep = compose([f"hydra.sweep.dir={sweep_dir}", "sweep.fail_exit=false"], with_hydra=True)
    SweepFailures().on_multirun_end(config=keep)  # no exit
    assert "2 sweep job(s) failed, exit status 0" in capsys.readouterr().err
    SweepFailures().on_multirun_start(config=cfg)  # a new run of the folder starts clean
    assert read_failed_jobs(sweep_dir) == []
    SweepFailures().on_multirun_end(config=cfg)  # no failed job: no exit, nothing printed
    assert capsys.readouterr().err == ""


@pytest.mark.slow
def test_submitit_local_launcher_runs_a_job(tmp_path: Path, sweep_cli) -> None:
    sweep_cli("hydra/launcher=local", "seed=3", "logger=none")
    runs = metrics_by_job(tmp_path / "sweep")
    assert list(runs) == ["0"] and runs["0"]["status"] == "ok" and runs["0"]["seed"] == 3
    # the job ran in submitit's own process, with its logs in the sweep's .submitit folder
    assert list((tmp_path / "sweep" / ".submitit").rglob("*_result.pkl"))


#: the head's bias made NaN before the first step (helpers.resume_helpers.PoisonAfterEpoch): the
#: loss is NaN at once and the job diverges, whatever parameters Optuna proposed
DIVERGE = [
    "+callbacks.poison._target_=helpers.resume_helpers.PoisonAfterEpoch",
    "+callbacks.poison.epoch=-1",
]


@pytest.mark.slow
def test_optuna_survives_a_diverged_trial_and_resumes_from_sqlite_with_new_trials(
    tmp_path: Path, sweep_cli
) -> None:
    """The study goes on past a diverged trial, and the same command again continues it from
    its SQLite storage with a new trial (a sampler seeded as the first command's was would
    propose the first trial's parameters again)."""
    import optuna

    storage = f"sqlite:///{tmp_path}/optuna.db"
    search = ["hparams_search=optuna", f"hydra.sweeper.storage={storage}", "logger=none"]
    sweep_cli(*search, "hydra.sweeper.n_trials=1", *DIVERGE)
    (diverged,) = metrics_by_job(tmp_path / "sweep").values()
    assert diverged["status"] == "diverged"
    # the same command goes on with the same study: 1 more trial, which trains
    sweep_cli(*search, "hydra.sweeper.n_trials=1", sweep="sweep2")
    study = optuna.load_study(study_name="graytransfer", storage=storage)
    values = sorted(t.value for t in study.trials)
    assert len(study.trials) == 2
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert values[0] == -1.0e9 and 0.0 <= values[1] <= 1.0
    result = OmegaConf.load(tmp_path / "sweep2" / "optimization_results.yaml")
    assert result.best_value == values[1] == study.best_value
    params = [tuple(sorted(t.params.items())) for t in study.trials]
    assert len(set(params)) == 2, params  # the resumed trial is a new one


def ask_and_tell(storage: str, n: int) -> list[tuple]:
    """`n` trials of study `s` in `storage`, asked of a fresh sampler as a new command would."""
    import optuna

    from graytransfer.run.optuna_sampler import ResumedStudySampler

    sampler = ResumedStudySampler(seed=0, n_startup_trials=10)
    study = optuna.create_study(
        study_name="s", storage=storage, sampler=sampler, load_if_exists=True, direction="maximize"
    )
    proposed = []
    for _ in range(n):
        trial = study.ask()
        params = (
            trial.suggest_float("lr", 1e-5, 1e-2, log=True),
            trial.suggest_categorical("adapt", ["repeat", "mean", "luma", "fold"]),
        )
        study.tell(trial, 0.5)
        proposed.append(params)
    return proposed


def test_a_resumed_study_proposes_new_trials_reproducibly(tmp_path: Path) -> None:
    runs = [ask_and_tell(f"sqlite:///{tmp_path}/{name}.db", 2) for name in ("a", "b")]
    resumed = [ask_and_tell(f"sqlite:///{tmp_path}/{name}.db", 2) for name in ("a", "b")]
    assert len(set(runs[0] + resumed[0])) == 4  # the resumed trials are new ones
    assert runs[0] == runs[1] and resumed[0] == resumed[1]  # the same commands, the same trials
