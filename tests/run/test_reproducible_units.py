"""Fast twin of the slow reproducibility run (run/test_reproducible.py): three tiny CPU runs
(two training steps, one validation and one test batch, of 4 images): seed 0 twice gives the
same metrics bit for bit, seed 1 gives others."""

from __future__ import annotations

from pathlib import Path

from helpers.configs import TINY_RUN, compose_config

from graytransfer.run import train

#: TINY_RUN in batches of 4, deterministic, no logger, no intervals (the metrics are compared)
RUN = [
    *TINY_RUN,
    "data.batch_size=4",
    "trainer.deterministic=true",
    "logger=none",
    "eval.bootstrap=0",
]


def run_metrics(tmp_path: Path, name: str, seed: int) -> dict[str, float]:
    metrics = train(compose_config([*RUN, f"seed={seed}"], tmp_path / name))["metrics"]
    return {k: v for k, v in metrics.items() if k.startswith(("train/", "val/", "test/"))}


def test_seed_zero_twice_gives_the_same_metrics_and_seed_one_others(tmp_path: Path) -> None:
    first = run_metrics(tmp_path, "a", seed=0)
    again = run_metrics(tmp_path, "b", seed=0)
    other = run_metrics(tmp_path, "c", seed=1)
    assert {"train/loss", "val/acc", "test/acc", "test/loss"} <= set(first)
    assert first == again
    assert first["train/loss"] != other["train/loss"]
    assert first["test/loss"] != other["test/loss"]
