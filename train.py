"""Train a grayscale classifier: `python train.py adapt=repeat model=b5`, sweeps with `-m`.

Returns the monitored metric's best value to Hydra's sweepers (a finite worst value for a failed
or diverged job of a multirun, which is recorded and does not stop the sweep).

Only Hydra is imported before the command line is parsed, so `--help`, `--cfg job`, `--info`,
shell completion and config errors answer without importing torch, Lightning or timm: they load
inside `train_job`, after the `extras` (conf/extras/) have filtered the known upstream warnings.
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from graytransfer.cli import hydra_entry


def train_job(cfg: DictConfig) -> Any:
    """One job: the extras, then `graytransfer.run.pipeline.train` through the sweep wrapper.
    A single run that fails before training leaves no run folder (graytransfer.run.start)."""
    from pathlib import Path

    from graytransfer.config import check_missing
    from graytransfer.run.extras import apply_extras
    from graytransfer.run.job import run_job
    from graytransfer.run.start import removed_if_start_fails

    with removed_if_start_fails(Path(cfg.paths.output_dir)):
        check_missing(cfg)  # a value left at ??? (data.root, ...): one line, torch not loaded
        check_train_switches(cfg)
        apply_extras(cfg)
        return run_job(cfg, train_or_test)


def train_or_test(cfg: DictConfig) -> dict[str, Any]:
    """`train: true`: fit, then test unless `test: false` (graytransfer.run.pipeline).
    `train: false`: only test the checkpoint `ckpt_path` on `data`'s test split
    (graytransfer.tools.evaluate, the record in this run's folder)."""
    if not cfg.get("train", True):
        from graytransfer.tools.evaluate import evaluate

        return evaluate(cfg)
    from graytransfer.run.pipeline import train

    return train(cfg)


def check_train_switches(cfg: DictConfig) -> None:
    """`train=false` needs a checkpoint to test, and `test=true` for anything to happen."""
    from graytransfer.errors import UserError

    if cfg.get("train", True):
        return
    if not cfg.get("ckpt_path"):
        raise UserError(
            "train=false: no checkpoint to test; give one with ckpt_path=PATH (e.g. "
            "outputs/train/runs/<time>/checkpoints/best.ckpt) or drop train=false"
        )
    if not cfg.get("test", True):
        raise UserError("train=false and test=false: nothing to do; drop one of them")


main = hydra_entry("train", train_job)

if __name__ == "__main__":
    main()
