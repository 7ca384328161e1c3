"""`python -m graytransfer.tools.evaluate ckpt_path=PATH`: score a checkpoint on a test split.

The model is rebuilt from the checkpoint alone (graytransfer.model.restore); the data is the one the
checkpoint was trained on unless `data=` chooses another, always at the checkpoint's image size.
The metrics are those `train.py` logs for its test split (`test/acc`, `test/f1`, ...), written to
`metrics.json` in the eval run's folder and to W&B with job type `eval`, each headline metric with
its 95% confidence interval (`eval=`: conf/eval/, `graytransfer.evaluation.bootstrap`);
`predictions.csv` holds every test image's truth, probabilities and decisions (at the
checkpoint's thresholds for multilabel and binary), kept during the test itself.

`ckpt_path` may also be a list of checkpoints or a CV sweep folder: the ensemble averaging their
probabilities (`graytransfer.evaluation.ensemble`; metrics.json's `ensemble` says its members and
where its thresholds came from); `eval.tta=[hflip]` averages over flipped views too
(`graytransfer.evaluation.tta`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError

if TYPE_CHECKING:  # torch, Lightning and timm load in `evaluate`, after the command line
    import lightning as L

    from graytransfer.data.base import GrayscaleDataModule
    from graytransfer.model.restore import TrainedModel


def test_data(cfg: DictConfig, trained: TrainedModel) -> GrayscaleDataModule:
    """The data module whose test split is scored: `cfg.data`, else the checkpoint's own."""
    from graytransfer.config import check_missing

    data_cfg = cfg.get("data") or OmegaConf.create(trained.config["data"])
    check_missing(data_cfg, "data.")
    seed = cfg.get("seed")
    if seed is None:
        seed = trained.config.get("seed")
    data = instantiate(data_cfg, image_size=list(trained.image_size), seed=seed or 0)
    data.prepare_data()
    data.setup("test")
    if data.test_set is None or len(data.test_set) == 0:
        raise UserError(
            f"data: {type(data).__name__} has an empty test split; set data.test_split > 0 or "
            "give a test/ folder"
        )
    return data


def wandb_info(loggers: list) -> dict[str, Any] | None:
    """The W&B run this evaluation logged to (id, job type, folder), if any."""
    from lightning.pytorch.loggers import WandbLogger

    for logger in loggers:
        if isinstance(logger, WandbLogger) and trainer_is_rank_zero():
            run = logger.experiment
            return {"id": run.id, "job_type": run.job_type, "dir": str(Path(run.dir).parent)}
    return None


def trainer_is_rank_zero() -> bool:
    from lightning.pytorch.utilities import rank_zero_only

    return getattr(rank_zero_only, "rank", 0) == 0


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Score `cfg.ckpt_path` on the test split and return the record written to metrics.json.
    A value left at ??? (`ckpt_path`) stops it in one line before torch is imported."""
    check_missing(cfg)
    from graytransfer.evaluation.collect import TestPredictions
    from graytransfer.evaluation.subgroups import check_subgroup_data
    from graytransfer.evaluation.tta import tta_of, without_tta
    from graytransfer.model.checkpoint_file import check_compatible
    from graytransfer.run.checkpoints import load_model
    from graytransfer.run.evaluation import evaluate_test_split, with_evaluation
    from graytransfer.run.folder import RunFolder
    from graytransfer.run.loggers import build_loggers, finish_wandb
    from graytransfer.run.record import publish_record, to_float

    trained = load_model(cfg.ckpt_path, tta_of(cfg))
    data = test_data(cfg, trained)
    check_subgroup_data(cfg.get("eval"), data)  # eval.subgroups: before the test
    check_compatible(
        {"hyper_parameters": {"class_names": trained.class_names}},
        trained.source,
        trained.model_name,
        trained.strategy,
        data.class_names,
    )
    output_dir = Path(cfg.paths.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    loggers = build_loggers(cfg)
    callbacks = [TestPredictions()]  # predictions.csv and the intervals
    trainer: L.Trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    try:
        trainer.test(trained.model, datamodule=data, verbose=False)
        metrics = {k: to_float(v) for k, v in trainer.callback_metrics.items()}
        seed = cfg.get("seed") if cfg.get("seed") is not None else trained.config.get("seed")
        model, folder = trained.model, RunFolder(output_dir)
        eval_cfg = without_tta(cfg.get("eval"))  # the bootstrap's settings
        tested = evaluate_test_split(trainer, model, data, eval_cfg, seed, folder, loggers)
        metrics = with_evaluation(metrics, tested)
        record = {
            "checkpoint": str(trained.source),
            "model": trained.model_name,
            "strategy": trained.strategy,
            "data": data.describe(),
            "classes": trained.class_names,
            "image_size": list(trained.image_size),
            "metrics": metrics,
            "output_dir": str(output_dir),
            "wandb": wandb_info(loggers),
            "intervals": tested.intervals,
            "subgroups": tested.subgroups,  # eval.subgroups: graytransfer.evaluation.subgroups
        }
        if hasattr(trained, "describe"):  # an ensemble or TTA: members, views, thresholds
            record["ensemble"] = trained.describe()
        publish_record(record, output_dir, trainer.is_global_zero)
        return record
    finally:
        finish_wandb()


main = hydra_entry("evaluate", evaluate)


if __name__ == "__main__":
    main()
