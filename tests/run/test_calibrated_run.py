"""`calibration=temperature` through a real run: the same seeded binary run with and without it
trains the same weights, so everything but the probabilities must agree (accuracy, AUROC, every
decision) while the calibrated run's `test/ece_uncalibrated` is the plain run's `test/ece`; the
best checkpoint carries the calibration to evaluate and export (the exported graph includes it).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.configs import TEST_NET, compose_config
from helpers.task_data import task_overrides
from helpers.trained_fixture import compose_task

from graytransfer.errors import UserError
from graytransfer.model.restore import load_trained
from graytransfer.run import train

#: timm's test net on the binary digit folders, deterministic, a few batches
RUN = [
    *TEST_NET,
    "data.batch_size=16",
    "optim.lr=1e-2",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.deterministic=true",
    "trainer.enable_progress_bar=false",
    "callbacks=[model_checkpoint]",
    "logger=none",
    "eval.bootstrap=200",
    "seed=3",
]


def rows(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "predictions.csv").open() as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> dict[str, tuple[Path, dict[str, Any]]]:
    """The plain and the calibrated run of the same seeded binary task."""
    root = tmp_path_factory.mktemp("calibrated")
    data = task_overrides("binary", root)
    runs = {}
    for name in ("none", "temperature"):
        run_dir = root / name
        runs[name] = (run_dir, train(compose_config([*RUN, *data, f"calibration={name}"], run_dir)))
    return runs


@pytest.mark.slow
def test_calibration_changes_probabilities_only(pair) -> None:
    (plain_dir, plain), (calib_dir, calib) = pair["none"], pair["temperature"]
    record = calib["calibration"]
    assert plain["calibration"] is None
    assert record["method"] == "platt" and record["a"] > 0 and record["fitted_on"] == "val"
    assert record["val_nll_after"] <= record["val_nll_before"]
    p, c = plain["metrics"], calib["metrics"]
    for key in ("test/acc", "test/auroc", "test/ap", "test/sensitivity", "test/specificity"):
        assert c[key] == pytest.approx(p[key], abs=1e-6), key
    # the inverse map recovers the plain run's probabilities: its ECE and Brier
    assert c["test/ece_uncalibrated"] == pytest.approx(p["test/ece"], abs=1e-5)
    assert c["test/brier_uncalibrated"] == pytest.approx(p["test/brier"], abs=1e-5)
    assert "test/ece_uncalibrated" not in p
    for key in ("test/ece_ci", "test/brier_ci"):
        low, high = c[key]
        assert low <= c[key[: -len("_ci")]] <= high
    before, after = rows(plain_dir), rows(calib_dir)
    assert [r["pred_pneumonia"] for r in after] == [r["pred_pneumonia"] for r in before]
    assert [r["p_pneumonia"] for r in after] != [r["p_pneumonia"] for r in before]


@pytest.mark.slow
def test_the_best_checkpoint_carries_the_calibration_to_evaluate_and_export(
    pair, tmp_path: Path
) -> None:
    from graytransfer.tools.evaluate import evaluate
    from graytransfer.tools.export import run as export

    run_dir, info = pair["temperature"]
    best = run_dir / "checkpoints" / "best.ckpt"
    trained = load_trained(best)
    a, b = info["calibration"]["a"], info["calibration"]["b"]
    assert trained.model.calibration_scale.tolist() == pytest.approx([a])
    assert trained.model.calibration_bias.tolist() == pytest.approx([b])
    scored = evaluate(compose_task("evaluate", [f"ckpt_path={best}", "logger=none"], tmp_path))
    for key in ("test/ece", "test/ece_uncalibrated", "test/acc", "test/auroc"):
        assert scored["metrics"][key] == pytest.approx(info["metrics"][key], abs=1e-6), key
    out = tmp_path / "model.pt"
    export(
        compose_task(
            "export", [f"ckpt_path={best}", "format=torchscript", f"output={out}"], tmp_path
        )
    )
    sidecar = (out.with_name(out.name + ".json")).read_text()
    assert '"method": "platt"' in sidecar
    images = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)
    with torch.no_grad():
        calibrated = torch.jit.load(str(out))(images)
        trained.model.calibration_scale.fill_(1.0)
        trained.model.calibration_bias.zero_()
        raw = trained.model(images)
    assert torch.allclose(calibrated, raw * a + b, atol=1e-4)


def test_no_val_split_is_refused_before_training(tmp_path: Path) -> None:
    cfg = compose_config(
        [*RUN, "data.val_split=0", "calibration=temperature", "trainer.max_epochs=1"], tmp_path
    )
    with pytest.raises(UserError, match=r"calibration=temperature fits on the validation split"):
        train(cfg)
    assert not (tmp_path / "checkpoints").exists()
