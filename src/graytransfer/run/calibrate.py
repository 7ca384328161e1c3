"""`calibration=temperature`: after fit and before test, fit the calibration on the validation
split with the best checkpoint's weights, and store it in that checkpoint.

The best checkpoint's weights (the ones the test scores) are loaded into the model, the
validation images' raw logits are collected (the calibration at identity), the map is fitted
(`graytransfer.evaluation.temperature`) and written into the classifier's `calibration_scale` and
`calibration_bias` buffers; a thresholded task's thresholds are re-chosen by its own rule on the
calibrated validation probabilities (a strictly increasing map: the same images fall on each side,
so decisions do not change for the max_f1, youden and sensitivity rules; a `fixed` threshold now
applies to calibrated probabilities). The best checkpoint file is then rewritten with both, whole
or not at all (`graytransfer.atomic`), so test, evaluate, predict and export all use them. Without
a checkpoint file the in-memory model is calibrated and tested. Rank 0 does the work; the other
ranks wait, then load the rewritten file for the test.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from graytransfer.atomic import write_bytes_atomic
from graytransfer.errors import UserError
from graytransfer.evaluation.temperature import FittedCalibration, TemperatureScaling
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.model.classifier import GrayscaleClassifier

BUFFERS = ("calibration_scale", "calibration_bias", "thresholds")


def check_calibration(calibrator: Any, data: Any) -> None:
    """UserError (one line) when a calibration is asked for and the data has no val split."""
    if calibrator is not None and (data.val_set is None or len(data.val_set) == 0):
        raise UserError(
            "calibration=temperature fits on the validation split, and this data has none: set "
            "data.val_split > 0 (or give val images), or calibration=none"
        )


@torch.no_grad()
def val_logits(
    model: GrayscaleClassifier, data: Any, trainer: L.Trainer
) -> tuple[np.ndarray, np.ndarray]:
    """The raw logits (calibration at identity) and labels of every validation image, in order,
    in eval mode under the trainer's precision (this process scores the whole split)."""
    model.calibration_scale.fill_(1.0)
    model.calibration_bias.zero_()
    loader = DataLoader(data.val_set, batch_size=data.batch_size, shuffle=False)
    device = trainer.strategy.root_device
    was_training = model.training
    model.eval()
    logits, labels = [], []
    try:
        with trainer.strategy.precision_plugin.forward_context():
            for images, y in loader:
                logits.append(model(images.to(device)).float().cpu())
                labels.append(y)
    finally:
        model.train(was_training)
    return torch.cat(logits).numpy(), torch.cat(labels).numpy()


def apply(model: GrayscaleClassifier, fitted: FittedCalibration, logits: np.ndarray, labels: Any):
    """Set the model's calibration buffers to `fitted` and re-choose a thresholded task's
    thresholds on the calibrated validation probabilities."""
    model.calibration_scale.copy_(torch.as_tensor(fitted.scale, dtype=torch.float32))
    model.calibration_bias.copy_(torch.as_tensor(fitted.bias, dtype=torch.float32))
    if model.thresholds is None:
        return
    calibrated = model.calibrated(torch.as_tensor(logits).to(model.calibration_scale.device))
    probs = model.task.probabilities(calibrated).cpu()
    chosen = model.task.choose(probs, model.task.targets(torch.as_tensor(labels)))
    model.thresholds.copy_(chosen.to(model.thresholds.device))


def rewrite_checkpoint(path: str | Path, model: GrayscaleClassifier) -> None:
    """The checkpoint at `path` with the model's calibration and thresholds, written atomically
    (the file is replaced whole or stays as it was)."""
    checkpoint = read_checkpoint(path)
    state = checkpoint["state_dict"]
    for name in BUFFERS:
        value = getattr(model, name)
        if value is not None:
            state[name] = value.detach().cpu().clone()
    extra = checkpoint.setdefault("graytransfer", {})
    extra["thresholds"] = None if model.thresholds is None else model.thresholds.tolist()
    extra["calibration"] = {
        "scale": model.calibration_scale.tolist(),
        "bias": model.calibration_bias.tolist(),
    }
    buffer = io.BytesIO()
    torch.save(checkpoint, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def calibrate(
    calibrator: TemperatureScaling,
    trainer: L.Trainer,
    model: GrayscaleClassifier,
    data: Any,
    best: str | None,
) -> dict[str, Any] | None:
    """Fit `calibrator` on the validation split with the best checkpoint's weights (the
    in-memory model's without one), store it (module docstring); the record for
    `metrics.json`'s `calibration` on rank 0 (None on the other ranks, which get the fitted
    buffers from rank 0)."""
    found = None
    if trainer.is_global_zero:
        if best:
            model.load_state_dict(read_checkpoint(best)["state_dict"])
        logits, labels = val_logits(model, data, trainer)
        fitted = calibrator.fit(model.task.name, logits, labels, list(model.output_names))
        apply(model, fitted, logits, labels)
        if best:
            rewrite_checkpoint(best, model)
        buffers = {name: getattr(model, name) for name in BUFFERS}
        found = (fitted.record(), {k: v.cpu() for k, v in buffers.items() if v is not None})
    trainer.strategy.barrier("calibration")
    record, buffers = trainer.strategy.broadcast(found, src=0)  # ranks > 0 test the same model
    for name, value in buffers.items():
        getattr(model, name).copy_(value.to(getattr(model, name).device))
    return record if trainer.is_global_zero else None
