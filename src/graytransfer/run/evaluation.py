"""A tested model's evaluation, after `Trainer.test` (train.py and tools.evaluate): every test
image's row in `predictions.csv`; the calibration of the test probabilities (`test/ece`,
`test/brier`, per label for multilabel, in the record and on the loggers; `reliability.png` in the
run folder and, with a W&B logger, as the image `test/reliability`); and the confidence intervals
of the headline test metrics in the record (`test/<metric>_ci: [low, high]` beside each value)
and on the loggers (`test/<metric>_ci_low`, `_ci_high`). The science is
`graytransfer.evaluation`'s; this module only writes and logs it, on rank 0."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightning as L
from hydra.utils import instantiate
from lightning.pytorch.loggers import Logger, WandbLogger

from graytransfer.evaluation.bootstrap import Bootstrap, Intervals
from graytransfer.evaluation.calibration import (
    Calibration,
    before_calibration,
    calibration,
    reliability_png,
)
from graytransfer.evaluation.collect import TestPredictions
from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.reference import reference_metrics
from graytransfer.evaluation.subgroup_output import logged_metrics, subgroup_rows
from graytransfer.evaluation.subgroups import (
    SubgroupSpec,
    subgroup_columns,
    subgroup_labels,
    subgroup_metrics,
)
from graytransfer.run.folder import RunFolder
from graytransfer.run.record import to_float

PREFIX = "test/"


@dataclass(frozen=True)
class TestEvaluation:
    """What the evaluation adds to a run's record: the intervals and the headline metrics the
    task does not log itself (scikit-learn's values; `metrics`), and how the intervals were made
    (`intervals`, None without them)."""

    __test__ = False  # not a pytest class

    metrics: dict[str, Any] = field(default_factory=dict)
    intervals: dict[str, Any] | None = None
    #: every headline metric per subgroup (`eval.subgroups`: graytransfer.evaluation.subgroups)
    subgroups: dict[str, Any] | None = None


def evaluate_test_split(
    trainer: L.Trainer,
    model: Any,
    data: Any,
    eval_cfg: Any,
    run_seed: int | None,
    folder: RunFolder,
    loggers: list[Logger],
) -> TestEvaluation:
    """Write `predictions.csv` and `reliability.png` into `folder` and compute, log and return
    the calibration and the intervals, from the predictions `TestPredictions` kept during the
    test (rank 0; nothing when untested)."""
    collector = TestPredictions.of(trainer)
    if collector is None or not trainer.is_global_zero:
        return TestEvaluation()
    preds = collector.predictions(data, model.task.name, model.output_names)
    if preds is None:
        return TestEvaluation()
    spec = SubgroupSpec.of_config(eval_cfg)
    if spec is not None:  # the subgroup columns into predictions.csv
        preds.columns = subgroup_columns(spec, data, preds.ids)
    folder.write_predictions(preds.rows())
    calibrated = calibration(preds)
    png = folder.write_reliability(reliability_png(calibrated))
    added = {f"{PREFIX}{name}": to_float(v) for name, v in calibrated.metrics().items()}
    # calibration=temperature: the test ECE and Brier before it too (test/ece_uncalibrated)
    added.update({f"{PREFIX}{k}": to_float(v) for k, v in before_calibration(preds, model).items()})
    log_calibration(loggers, calibrated, png, trainer.global_step)
    bootstrap: Bootstrap = instantiate(eval_cfg) if eval_cfg else Bootstrap()
    groups = spec and report_subgroups(preds, spec, bootstrap, run_seed, folder, loggers, trainer)
    intervals = bootstrap.intervals(preds, run_seed)
    if intervals is None:
        return TestEvaluation(added, subgroups=groups or None)
    points = {**reference_metrics(preds), **calibrated.metrics()}  # ECE, Brier: intervals too
    for name, bounds in intervals.bounds.items():
        added[f"{PREFIX}{name}"] = to_float(points[name])
        added[f"{PREFIX}{name}_ci"] = list(bounds) if bounds is not None else None
    log_intervals(loggers, intervals, trainer.global_step)
    return TestEvaluation(added, intervals.record(), groups or None)


def report_subgroups(
    preds: Predictions,
    spec: SubgroupSpec,
    bootstrap: Bootstrap,
    run_seed: int | None,
    folder: RunFolder,
    loggers: list[Logger],
    trainer: L.Trainer,
) -> dict[str, Any]:
    """Every headline metric per subgroup (`graytransfer.evaluation.subgroups`): written to
    `subgroups.csv` and to the loggers (`test/subgroup/<column>/<subgroup>/<metric>`)."""
    found = subgroup_metrics(preds, subgroup_labels(spec, preds.columns), bootstrap, run_seed)
    folder.write_subgroups(subgroup_rows(found))
    values = logged_metrics(found)
    for logger in loggers if values else ():
        logger.log_metrics(values, step=trainer.global_step)
        logger.save()
    return found


def with_evaluation(metrics: dict[str, Any], tested: TestEvaluation) -> dict[str, Any]:
    """`metrics` with each interval beside its value; a headline metric the task does not log
    (e.g. multiclass `test/balanced_acc`) is added with scikit-learn's value."""
    merged: dict[str, Any] = {}
    for name, value in metrics.items():
        merged[name] = value
        if f"{name}_ci" in tested.metrics:
            merged[f"{name}_ci"] = tested.metrics[f"{name}_ci"]
    for name, value in tested.metrics.items():
        merged.setdefault(name, value)
    return merged


def log_calibration(loggers: list[Logger], found: Calibration, png: Any, step: int) -> None:
    """`test/ece`, `test/brier` (and per label) to every logger, NaN left out; the diagram
    `png` to W&B as the image `test/reliability`."""
    values = {f"{PREFIX}{name}": to_float(v) for name, v in found.metrics().items()}
    values = {name: v for name, v in values.items() if v is not None}
    for logger in loggers:
        if values:
            logger.log_metrics(values, step=step)
        if isinstance(logger, WandbLogger):
            logger.log_image(key=f"{PREFIX}reliability", images=[str(png)])
        logger.save()


def log_intervals(loggers: list[Logger], intervals: Intervals, step: int) -> None:
    """`test/<metric>_ci_low` and `_ci_high` to every logger."""
    values = {}
    for name, bounds in intervals.bounds.items():
        if bounds is not None:
            values[f"{PREFIX}{name}_ci_low"], values[f"{PREFIX}{name}_ci_high"] = bounds
    if not values:
        return
    for logger in loggers:
        logger.log_metrics(values, step=step)
        logger.save()
