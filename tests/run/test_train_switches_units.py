"""Fast twin of the slow `test=false` / `train=false` test (run/test_train_cli.py): train.py's
`train_or_test` on a tiny fit without testing, and testing a checkpoint (a copy of the shared
trained run's best) without training."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from helpers.configs import TINY_RUN, compose_config
from helpers.train_main import train_module
from helpers.trained_fixture import TINY, trained_run  # noqa: F401 - the session fixture

QUIET = ["logger=none", "eval.bootstrap=0", "extras.print_config=false"]


def test_test_false_fits_without_testing(tmp_path: Path) -> None:
    run = [*TINY_RUN, "data.batch_size=4", *QUIET, "test=false"]
    fitted = train_module().train_or_test(compose_config(run, tmp_path / "fit"))
    assert fitted["status"] == "ok" and fitted["metrics"]["val/acc"] is not None
    assert not [key for key in fitted["metrics"] if key.startswith("test/")]


def test_train_false_only_tests_the_checkpoint_and_leaves_it_alone(
    trained_run,  # noqa: F811
    tmp_path: Path,
) -> None:
    best = tmp_path / "given" / "best.ckpt"
    best.parent.mkdir()
    shutil.copy2(trained_run[0] / "checkpoints" / "best.ckpt", best)
    stamp = best.stat().st_mtime_ns
    run = [*TINY, *QUIET, "trainer.limit_test_batches=1", "train=false", f"ckpt_path={best}"]
    tested = train_module().train_or_test(compose_config(run, tmp_path / "test"))
    assert tested["checkpoint"] == str(best) and 0.0 <= tested["metrics"]["test/acc"] <= 1.0
    assert not [key for key in tested["metrics"] if key.startswith(("train/", "val/"))]
    record = json.loads((tmp_path / "test" / "metrics.json").read_text())
    assert record["metrics"]["test/acc"] == tested["metrics"]["test/acc"]
    assert not (tmp_path / "test" / "checkpoints").exists()  # nothing was trained
    assert best.stat().st_mtime_ns == stamp
