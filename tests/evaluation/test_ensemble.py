"""Ensembles (graytransfer.evaluation.ensemble): a list of checkpoints or a CV sweep folder is one
model averaging the members' probabilities, with thresholds re-chosen on the out-of-fold
predictions (or the members' mean), and members that disagree are refused in one line.

The checkpoints are real: timm's test EfficientNet built by the project's one recipe from the real
config (differently seeded members), saved as the pipeline saves them, no training (fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.checkpoint_files import gray_images, write_checkpoint
from helpers.task_data import task_overrides

from graytransfer.errors import UserError
from graytransfer.evaluation.ensemble import AveragedClassifier, EnsembleModel
from graytransfer.model.restore import load_trained
from graytransfer.run.checkpoints import load_model
from graytransfer.task.thresholds import choose_thresholds


def probabilities(ckpt: Path, batch: torch.Tensor) -> torch.Tensor:
    model = load_trained(ckpt).model
    with torch.no_grad():
        return model.task.probabilities(model(batch))


def test_a_list_of_checkpoints_averages_the_members_probabilities(tmp_path: Path) -> None:
    a = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    b = write_checkpoint(tmp_path / "b" / "b.ckpt", 2)
    batch = gray_images()
    expected = (probabilities(a, batch) + probabilities(b, batch)) / 2
    assert not torch.allclose(probabilities(a, batch), probabilities(b, batch), atol=1e-4)
    ensemble = load_model([str(a), str(b)])
    assert isinstance(ensemble, EnsembleModel) and isinstance(ensemble.model, AveragedClassifier)
    assert ensemble.members == (a, b) and ensemble.thresholds is None
    with torch.no_grad():
        torch.testing.assert_close(ensemble.model.probabilities(batch), expected)
        # forward's logits give the averaged probabilities back through the task's softmax
        got = ensemble.model.task.probabilities(ensemble.model(batch))
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=1e-5)
    assert type(load_model(str(a))) is not EnsembleModel  # one checkpoint: the model as before


@pytest.mark.parametrize(
    ("override", "what"),
    [("data.image_size=24", "image size"), ("task=binary", "classes")],
)
def test_members_that_disagree_are_refused_naming_both(
    tmp_path: Path, override: str, what: str
) -> None:
    a = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    extra = [override]
    if override == "task=binary":
        extra = task_overrides("binary", tmp_path)
    b = write_checkpoint(tmp_path / "b" / "b.ckpt", 2, *extra)
    with pytest.raises(UserError) as caught:
        load_model([a, b])
    message = str(caught.value)
    assert str(a) in message and str(b) in message and f"differ in {what}" in message
    assert "\n" not in message


def write_fold(root: Path, fold: int, ckpt: Path) -> Path:
    """A finished fold run of a 2-fold CV sweep, as fold_folders finds it."""
    folder = root / str(fold)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"cv:\n  folds: 2\n  fold: {fold}\n")
    (folder / "metrics.json").write_text(json.dumps({"best_checkpoint": str(ckpt)}))
    return folder


def test_a_cv_folder_rechooses_the_thresholds_on_the_out_of_fold_predictions(
    tmp_path: Path,
) -> None:
    binary = task_overrides("binary", tmp_path)
    root = tmp_path / "sweep"
    ckpts = []
    for fold, threshold in ((0, 0.2), (1, 0.6)):
        ckpt = root / str(fold) / "checkpoints" / "best.ckpt"
        ckpts.append(write_checkpoint(ckpt, fold + 1, *binary, thresholds=[threshold]))
        write_fold(root, fold, ckpt)
    # without out-of-fold predictions: the members' mean, and it says so
    mean = load_model(str(root))
    assert mean.members == tuple(ckpts) and mean.thresholds == pytest.approx([0.4])
    assert mean.thresholds_from == "the mean of the members' thresholds"
    # with them: the members' rule (max_f1) on the OOF probabilities
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    probs = np.clip(0.3 * labels + rng.uniform(0, 0.7, 40), 0, 1)
    with (root / "oof_predictions.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "split", "fold", "label", "p_pneumonia", "pred_pneumonia"])
        for i, (y, p) in enumerate(zip(labels, probs, strict=True)):
            writer.writerow([f"{i}.png", "fold0", i % 2, y, f"{p:.6f}", 0])
    oof = load_model(str(root))
    expected = choose_thresholds(
        torch.tensor(probs[:, None]), torch.tensor(labels[:, None]), "max_f1", 0.9, 0.5
    )
    assert oof.thresholds == pytest.approx(expected.tolist(), abs=1e-6)
    assert oof.thresholds != pytest.approx([0.4])
    assert "out-of-fold" in oof.thresholds_from and oof.describe()["members"] == [
        str(c) for c in ckpts
    ]


def test_an_empty_list_and_a_folder_in_a_list_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="the list is empty"):
        load_model([])
    with pytest.raises(UserError, match="is a folder"):
        load_model([str(tmp_path)])


def test_the_exported_ensemble_returns_the_averaged_probabilities(tmp_path: Path) -> None:
    from graytransfer.tools.export import export_model, run_torchscript

    a = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    b = write_checkpoint(tmp_path / "b" / "b.ckpt", 2)
    ensemble = load_model([a, b])
    out = tmp_path / "model.pt"
    info = export_model(ensemble, "torchscript", out)
    assert info["output"]["name"] == "probabilities" and info["decision"] == "argmax(probabilities)"
    assert info["ensemble"]["members"] == [str(a), str(b)]
    assert json.loads((tmp_path / "model.pt.json").read_text())["output"]["name"] == "probabilities"
    batch = gray_images()
    expected = (probabilities(a, batch) + probabilities(b, batch)) / 2
    got = torch.from_numpy(run_torchscript(out, batch))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
