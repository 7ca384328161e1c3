"""Fast twin of the slow disabled-progress-bar run (run/test_run_integrity.py): with
`trainer.enable_progress_bar=false` and the default callbacks (which hold the Rich bar) a tiny run
(timm's test EfficientNet at 16x16, one batch) trains, and its monitored value says it is the last
epoch's (fast_dev_run keeps no best checkpoint)."""

from __future__ import annotations

from pathlib import Path

from helpers.configs import FAST, TEST_NET, compose_config

from graytransfer.run import train


def test_a_disabled_progress_bar_with_the_default_callbacks_trains(tmp_path: Path) -> None:
    overrides = [o for o in FAST if "rich_progress_bar" not in o]
    assert "trainer.enable_progress_bar=false" in overrides
    info = train(compose_config([*overrides, *TEST_NET, "logger=none"], tmp_path / "run"))
    assert info["status"] == "ok" and (tmp_path / "run" / "metrics.json").exists()
    assert info["monitor"]["best_from"] == "last epoch"
