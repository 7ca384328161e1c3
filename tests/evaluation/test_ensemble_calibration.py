"""An ensemble of calibrated fold models (graytransfer.evaluation.ensemble_fit): with the CV
folder's out-of-fold predictions, the members' kind of map (multiclass one temperature,
multilabel one per label, binary Platt) is re-fitted on them and applied AFTER averaging, the
thresholds are re-chosen on the calibrated OOF probabilities, and describe(), the export sidecar
and the exported graph carry the map; without the file or without member calibration nothing
is fitted.

Real checkpoints (timm's test EfficientNet, no training) stored with `calibration=temperature`
and a map in their buffers; a synthetic OOF csv whose probabilities are over-confident by a known
amount (the truth drawn from `softmax(z)` / `sigmoid(z)`, the file holding `3 z` or `2 z + 1`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.checkpoint_files import gray_images, write_checkpoint
from helpers.task_data import TASKS, task_overrides
from scipy.special import expit, softmax

from graytransfer.errors import UserError
from graytransfer.evaluation.ensemble_fit import MEMBERS_OWN, to_logits
from graytransfer.evaluation.temperature import TemperatureScaling, describe
from graytransfer.model.restore import load_trained
from graytransfer.run.checkpoints import load_model
from graytransfer.task.thresholds import choose_thresholds

#: each member's own map in its buffers (scale, sigmoid bias), by seed: the untrained nets' logits
#: are tiny (|z| < 0.1), these spread them so that the members' probabilities differ a lot
MEMBER_MAPS = {1: (60.0, 1.0), 2: (30.0, -1.0)}


def write_member(path: Path, seed: int, task: str, root: Path, calibration: str) -> Path:
    """A checkpoint of `task` stored with `calibration=<calibration>`; a calibrated one holds
    MEMBER_MAPS[seed] (no bias for softmax) in its buffers; binary/multilabel thresholds 0.5."""
    thresholds = None if task == "multiclass" else [0.5] * outputs(task)
    overrides = [*task_overrides(task, root), f"calibration={calibration}"]
    write_checkpoint(path, seed, *overrides, thresholds=thresholds)
    if calibration != "none":
        checkpoint = torch.load(path, weights_only=False)
        state, (scale, bias) = checkpoint["state_dict"], MEMBER_MAPS[seed]
        bias = 0.0 if task == "multiclass" else bias
        state["calibration_scale"] = torch.full_like(state["calibration_scale"], scale)
        state["calibration_bias"] = torch.full_like(state["calibration_bias"], bias)
        torch.save(checkpoint, path)
    return path


def outputs(task: str) -> int:
    return {"multiclass": 10, "binary": 1, "multilabel": 10}[task]


def write_sweep(root: Path, task: str, calibration: str = "temperature") -> list[Path]:
    """A finished 2-fold CV sweep at `root` of new checkpoints; its checkpoints."""
    ckpts = [root / str(fold) / "checkpoints" / "best.ckpt" for fold in (0, 1)]
    for fold, ckpt in enumerate(ckpts):
        write_member(ckpt, fold + 1, task, root, calibration)
    return fold_runs(root, ckpts)


def fold_runs(root: Path, ckpts: list[Path]) -> list[Path]:
    """Finished fold runs at `root` whose best checkpoints are `ckpts` (as run.cv.fold_folders
    and run.checkpoints find them)."""
    for fold, ckpt in enumerate(ckpts):
        folder = root / str(fold)
        (folder / ".hydra").mkdir(parents=True, exist_ok=True)
        config = f"cv:\n  folds: {len(ckpts)}\n  fold: {fold}\n"
        (folder / ".hydra" / "config.yaml").write_text(config)
        (folder / "metrics.json").write_text(json.dumps({"best_checkpoint": str(ckpt)}))
    return ckpts


def synthetic_oof(task: str, names: list[str], n: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """Over-confident probabilities (float32, as read back) and their truth, seeded."""
    rng = np.random.default_rng(7)
    z = rng.normal(0, 1.5, (n, len(names)))
    if task == "multiclass":
        truth = np.array([rng.choice(len(names), p=p) for p in softmax(z, axis=1)])
        return softmax(3 * z, axis=1).astype(np.float32), truth
    truth = (rng.uniform(size=z.shape) < expit(z)).astype(np.int64)
    if task == "multilabel":
        truth[rng.uniform(size=z.shape) < 0.1] = -1  # unknown entries stay out of the fit
    return expit(2 * z + 1).astype(np.float32), truth


def write_oof(path: Path, task: str, names: list[str], probs: np.ndarray, truth: np.ndarray):
    """`probs` and `truth` as predictions.csv's columns (with run.cv.merge_oof's `fold`)."""
    truth_cols = names if task == "multilabel" else ["label"]
    header = ["id", "split", "fold", *truth_cols]
    if task == "multiclass":
        header.append("class")
    header += [f"p_{n}" for n in names]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i, (p, y) in enumerate(zip(probs, truth, strict=True)):
            label = [int(y)] if task == "multiclass" else np.atleast_1d(y).tolist()
            name = [names[int(y)]] if task == "multiclass" else []
            probs_text = [f"{v:.6g}" for v in p]
            writer.writerow([f"{i}.png", f"fold{i % 2}", i % 2, *label, *name, *probs_text])


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory) -> dict[str, Path]:
    """Per task, a calibrated 2-fold sweep with its synthetic OOF file."""
    found = {}
    for task in TASKS:
        root = tmp_path_factory.mktemp(task) / "sweep"
        ckpts = write_sweep(root, task)
        names = load_trained(ckpts[0]).output_names
        write_oof(root / "oof_predictions.csv", task, names, *synthetic_oof(task, names))
        found[task] = root
    return found


def read_back(root: Path, task: str, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """The OOF file's probabilities and truth as the numbers anyone reads from it."""
    with (root / "oof_predictions.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    probs = np.array([[float(r[f"p_{n}"]) for n in names] for r in rows], dtype=np.float32)
    cols = names if task == "multilabel" else ["label"]
    truth = np.array([[int(r[c]) for c in cols] for r in rows])
    return probs, truth[:, 0] if task == "multiclass" else truth


def member_mean(ckpts: list[Path], batch: torch.Tensor) -> torch.Tensor:
    """The plain average of the members' probabilities, each through its own buffers."""
    probs = []
    for ckpt in ckpts:
        model = load_trained(ckpt).model
        with torch.no_grad():
            probs.append(model.task.probabilities(model(batch)))
    return torch.stack(probs).mean(dim=0)


@pytest.mark.parametrize("task", TASKS)
def test_the_map_is_refitted_on_the_oof_predictions_and_applied_after_averaging(
    sweeps: dict[str, Path], task: str
) -> None:
    root = sweeps[task]
    ensemble = load_model(str(root))
    names = ensemble.output_names
    probs, truth = read_back(root, task, names)
    logits = to_logits(task, torch.from_numpy(probs))
    fitted = TemperatureScaling().fit(task, logits.numpy(), truth, names)
    model = ensemble.model
    # the same fit as temperature.py's on the same numbers, and far from the identity
    np.testing.assert_allclose(model.calibration_scale.numpy(), fitted.scale, rtol=1e-6)
    np.testing.assert_allclose(model.calibration_bias.numpy(), fitted.bias, atol=1e-6)
    assert np.all(np.abs(fitted.scale - 1) > 0.2)
    if task == "multiclass":  # the file is 3x over-confident
        assert 1 / fitted.scale[0] == pytest.approx(3, rel=0.15)
    # on images: the members' mean (each calibrated by its own map), then the ensemble's map
    batch = gray_images()
    mean = member_mean(ensemble.members, batch)
    scale, bias = torch.from_numpy(fitted.scale).float(), torch.from_numpy(fitted.bias).float()
    expected = model.task.probabilities(to_logits(task, mean) * scale + bias)
    with torch.no_grad():
        got = model.probabilities(batch)
        through_forward = model.task.probabilities(model(batch))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(through_forward, expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(got, mean, atol=1e-3)
    if task == "multiclass":  # one temperature: the decisions stay
        assert torch.equal(got.argmax(dim=1), mean.argmax(dim=1))
    else:  # strictly increasing per output: every output's ranking stays
        assert torch.equal(got.argsort(dim=0), mean.argsort(dim=0))
    # describe(): the values, where they were fitted
    record = ensemble.describe()["calibration"]
    values = describe(task, fitted.scale, fitted.bias, names)
    assert {k: record[k] for k in values} == values  # the same numbers: the same fit
    assert record["method"] == ("platt" if task == "binary" else "temperature")
    oof = root / "oof_predictions.csv"
    assert record["fitted_on"] == f"the out-of-fold predictions '{oof}'"
    assert record["images"] == len(probs) and record["oof_nll_after"] < record["oof_nll_before"]


@pytest.mark.parametrize("task", ["binary", "multilabel"])
def test_thresholds_are_rechosen_on_the_calibrated_oof_probabilities(
    sweeps: dict[str, Path], task: str
) -> None:
    root = sweeps[task]
    ensemble = load_model(str(root))
    probs, truth = read_back(root, task, ensemble.output_names)
    scale, bias = ensemble.model.calibration_scale, ensemble.model.calibration_bias
    calibrated = torch.sigmoid(to_logits(task, torch.from_numpy(probs)) * scale + bias)
    targets = torch.from_numpy(truth)
    rule = ensemble.model.task.threshold
    expected = choose_thresholds(calibrated, targets, rule, 0.9, 0.5)
    raw = choose_thresholds(torch.from_numpy(probs), targets, rule, 0.9, 0.5)
    assert ensemble.thresholds == pytest.approx(expected.tolist(), abs=1e-6)
    assert ensemble.thresholds != pytest.approx(raw.tolist(), abs=1e-3)
    assert "calibrated out-of-fold predictions" in ensemble.thresholds_from


def test_the_ensemble_graph_and_sidecar_carry_the_map(sweeps: dict[str, Path]) -> None:
    """The fast twin of the export below: the module export traces, and the sidecar's record."""
    from graytransfer.evaluation.ensemble import ProbabilityGraph, export_sidecar

    ensemble = load_model(str(sweeps["binary"]))
    record = ensemble.describe()["calibration"]
    sidecar = export_sidecar(ensemble)
    assert sidecar["calibration"] == sidecar["ensemble"]["calibration"] == record
    assert record["method"] == "platt" and record["scale"] != [1.0]
    batch = gray_images()
    with torch.no_grad():
        got = ProbabilityGraph(ensemble.model).eval()(batch)
    mean = member_mean(ensemble.members, batch)
    scale, bias = torch.tensor(record["scale"]), torch.tensor(record["bias"])
    torch.testing.assert_close(got, torch.sigmoid(to_logits("binary", mean) * scale + bias))


@pytest.mark.slow
def test_the_exported_graph_and_sidecar_carry_the_map(sweeps: dict[str, Path], tmp_path) -> None:
    from graytransfer.tools.export import export_model, run_torchscript

    ensemble = load_model(str(sweeps["binary"]))
    info = export_model(ensemble, "torchscript", tmp_path / "model.pt")
    sidecar = json.loads((tmp_path / "model.pt.json").read_text())
    record = ensemble.describe()["calibration"]
    assert sidecar["calibration"] == info["calibration"] == record
    assert sidecar["ensemble"]["calibration"] == record and record["method"] == "platt"
    batch = gray_images()
    with torch.no_grad():
        expected = ensemble.model.probabilities(batch)
    got = torch.from_numpy(run_torchscript(tmp_path / "model.pt", batch))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(got, member_mean(ensemble.members, batch), atol=1e-3)


def test_without_oof_or_without_member_calibration_nothing_is_fitted(
    sweeps: dict[str, Path], tmp_path: Path
) -> None:
    task = "multiclass"
    # calibrated members, no OOF file (a list): each member's own map, the plain mean, says so
    calibrated = [sweeps[task] / str(fold) / "checkpoints" / "best.ckpt" for fold in (0, 1)]
    own = load_model(calibrated)
    batch = gray_images()
    with torch.no_grad():
        torch.testing.assert_close(own.model.probabilities(batch), member_mean(calibrated, batch))
    assert own.describe()["calibration"] == MEMBERS_OWN
    # members trained without calibration, with an OOF file: nothing fitted, "none"
    plain = write_sweep(tmp_path / "plain", task, calibration="none")
    names = load_trained(plain[0]).output_names
    oof = tmp_path / "plain" / "oof_predictions.csv"
    write_oof(oof, task, names, *synthetic_oof(task, names))
    ensemble = load_model(str(tmp_path / "plain"))
    with torch.no_grad():
        torch.testing.assert_close(ensemble.model.probabilities(batch), member_mean(plain, batch))
    assert ensemble.describe()["calibration"] == "none"
    assert torch.equal(ensemble.model.calibration_scale, torch.ones(10))


def test_a_multiclass_oof_file_needs_its_label_column_of_class_indices(
    sweeps: dict[str, Path], tmp_path: Path
) -> None:
    root = tmp_path / "sweep"
    calibrated = sweeps["multiclass"]
    ckpts = fold_runs(
        root, [calibrated / str(fold) / "checkpoints" / "best.ckpt" for fold in (0, 1)]
    )
    names = load_trained(ckpts[0]).output_names
    probs, truth = synthetic_oof("multiclass", names, n=20)
    oof = root / "oof_predictions.csv"
    write_oof(oof, "multiclass", names, probs, truth)
    text = oof.read_text()
    oof.write_text(text.replace("id,split,fold,label,", "id,split,fold,truth,"))
    with pytest.raises(UserError, match="no column label") as caught:
        load_model(str(root))
    assert str(oof) in str(caught.value) and "\n" not in str(caught.value)
    write_oof(oof, "multiclass", names, probs, truth)
    lines = oof.read_text().splitlines()
    cells = lines[4].split(",")  # the fourth image: its label (column 3) out of range
    lines[4] = ",".join([*cells[:3], "12", *cells[4:]])
    oof.write_text("\n".join(lines) + "\n")
    with pytest.raises(UserError, match=r"label 12 is not a class index .*\(0\.\.9\)"):
        load_model(str(root))


@pytest.mark.slow
def test_a_calibrated_fold_writes_calibrated_oof_probabilities(tmp_path: Path) -> None:
    """What the fit above relies on: a fold run with calibration=temperature writes its OOF file
    with the best checkpoint's calibrated probabilities (its map was fitted on those same
    held-out images, so refitting on the file gives the identity; raw ones would give the
    fold's own temperature back)."""
    from helpers.configs import TINY_RUN, compose_config

    from graytransfer.run import train

    overrides = [*TINY_RUN, "logger=none", "cv.folds=3", "cv.fold=1", "eval.bootstrap=0"]
    cfg = compose_config([*overrides, "calibration=temperature"], tmp_path / "run")
    record = train(cfg)
    folder = Path(record["output_dir"])
    model = load_trained(record["best_checkpoint"]).model
    names = list(model.output_names)
    probs, truth = read_back(folder, "multiclass", names)
    assert abs(record["calibration"]["temperature"] - 1) > 0.05  # the fold's own map
    logits = to_logits("multiclass", torch.from_numpy(probs)).numpy()
    refit = TemperatureScaling().fit("multiclass", logits, truth, names)
    assert 1 / refit.scale[0] == pytest.approx(1, abs=1e-2)


def test_evaluate_reports_the_plain_average_as_uncalibrated(sweeps: dict[str, Path]) -> None:
    """`test/ece_uncalibrated` of tools.evaluate (evaluation.calibration.before_calibration, as
    run.evaluation calls it) for a re-calibrated ensemble: the ECE of the plain average."""
    from graytransfer.evaluation.calibration import before_calibration, calibration
    from graytransfer.evaluation.predictions import Predictions

    ensemble = load_model(str(sweeps["multiclass"]))
    batch = gray_images(n=40)
    with torch.no_grad():
        probs = ensemble.model.probabilities(batch).numpy()
    mean = member_mean(ensemble.members, batch).numpy()
    labels = np.arange(40) % 10
    ids = [f"{i}.png" for i in range(40)]
    names = ensemble.output_names

    def preds(p: np.ndarray) -> Predictions:
        return Predictions("multiclass", names, names, p, labels, ids)

    found = before_calibration(preds(probs), ensemble.model)
    assert found["ece_uncalibrated"] == pytest.approx(calibration(preds(mean)).ece, abs=1e-5)
    assert calibration(preds(probs)).ece != pytest.approx(found["ece_uncalibrated"], abs=1e-3)
