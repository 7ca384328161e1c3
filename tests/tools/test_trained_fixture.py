"""The shared trained run (helpers.trained_fixture) is fit for catching wrong-checkpoint bugs: it
learns, its best checkpoint is not its last, and the two score differently on the test split.

So the evaluate/predict/export tests, which compare against the run's record or the best
checkpoint, fail when a tool (or training's own test pass) uses last.ckpt instead of best.ckpt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture

from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.tools.evaluate import evaluate

CHANCE = 0.1  # ten digits


@pytest.mark.slow
def test_the_run_learns_and_its_best_epoch_is_not_its_last(trained_run) -> None:  # noqa: F811
    run_dir, info = trained_run
    assert info["metrics"]["test/acc"] > 2 * CHANCE  # scored on best.ckpt, the least trained
    best = read_checkpoint(run_dir / "checkpoints" / "best.ckpt")
    last = read_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    assert Path(info["best_checkpoint"]).name == "best.ckpt"
    assert best["epoch"] < last["epoch"] and best["global_step"] < last["global_step"]
    weights = [k for k, v in best["state_dict"].items() if v.is_floating_point()]
    assert any(not torch.equal(best["state_dict"][k], last["state_dict"][k]) for k in weights)
    # best is the epoch with the LOWEST val/acc (monitor.mode=min), and training improved on it
    assert info["monitor"]["mode"] == "min"
    assert info["monitor"]["best"] < info["metrics"]["val/acc"]


@pytest.mark.slow
def test_scoring_last_instead_of_best_gives_other_test_metrics(trained_run, tmp_path) -> None:  # noqa: F811
    """What test_evaluate (and training's own test pass) relies on: the run's recorded test
    metrics, taken on best.ckpt, are not what last.ckpt scores, far beyond its 1e-6 tolerance."""
    run_dir, info = trained_run
    last = run_dir / "checkpoints" / "last.ckpt"
    cfg = compose_task(
        "evaluate", [f"ckpt_path={last}", "trainer.enable_progress_bar=false"], tmp_path
    )
    scored = evaluate(cfg)["metrics"]
    recorded = {k: v for k, v in info["metrics"].items() if k.startswith("test/")}
    assert {"test/acc", "test/f1", "test/auroc", "test/loss"} <= set(recorded)  # + intervals
    assert abs(scored["test/loss"] - recorded["test/loss"]) > 1e-3
    assert scored["test/acc"] > recorded["test/acc"]  # the last weights are the better ones
