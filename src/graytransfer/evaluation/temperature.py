"""Calibration fitted on the validation split's logits: one temperature, or Platt scaling.

`TemperatureScaling` is conf/calibration/temperature.yaml's object. Every map it fits is affine
per output in logit space, `logits * scale + bias`, with `scale > 0`, so it is strictly
increasing for each output: the argmax class, every sigmoid output's ranking (AUROC, AP) and,
with the thresholds re-chosen on the calibrated validation probabilities by the task's rule,
every decision stay the same; only the probabilities change. (A softmax class's one-vs-rest
ranking can shift slightly: its probability also depends on the other classes' logits.)

- multiclass: one temperature T for all classes (`softmax(logits / T)`: scale 1/T, bias 0);
- multilabel: one temperature per label, on its known (>= 0) validation targets; a label whose
  known validation targets hold a single class keeps T = 1 (nothing to fit);
- binary: Platt scaling, `sigmoid(a * logit + b)` with a > 0 (scale a, bias b); a validation
  split with a single class keeps a = 1, b = 0.

Each map minimises the mean negative log-likelihood (NLL) on the validation images (for a sigmoid
output of Platt's smoothed targets, `platt_targets`, so a separable validation split gives a
finite slope; multiclass: of the labels, as Guo et al. 2017, so there T stops at `LOW`), in float64,
with SciPy's deterministic optimisers (bounded Brent for a temperature, L-BFGS-B for Platt's two
values): the same logits give the same map on every machine. T and a are searched in
[`LOW`, `HIGH`]. The classifier stores the map in its `calibration_scale` and `calibration_bias`
buffers (identity by default), so the checkpoint carries it (graytransfer.run.calibrate).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import log_softmax

#: the search range of a temperature and of Platt's slope
LOW, HIGH = 1e-2, 1e2
METHODS = {"multiclass": "temperature", "multilabel": "temperature", "binary": "platt"}


@dataclass(frozen=True)
class FittedCalibration:
    """An affine map per output in logit space (`scale`, `bias`, each (outputs,)), how it was
    fitted (`method`, `images`) and the validation NLL before and after it."""

    task: str
    method: str
    scale: np.ndarray
    bias: np.ndarray
    names: list[str]
    images: int
    nll_before: float
    nll_after: float

    def record(self) -> dict[str, Any]:
        """What `metrics.json` says under `calibration`: the method, its values (multiclass
        `temperature`; multilabel `temperature` per label; binary `a` and `b`), the split it was
        fitted on, how many images, and the validation NLL before and after."""
        found: dict[str, Any] = {"method": self.method, "fitted_on": "val", "images": self.images}
        found.update(describe(self.task, self.scale, self.bias, self.names))
        found["val_nll_before"] = self.nll_before
        found["val_nll_after"] = self.nll_after
        return found


def describe(task: str, scale: Any, bias: Any, names: list[str]) -> dict[str, Any]:
    """The calibration's values as a user reads them (see `FittedCalibration.record`)."""
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    bias = np.asarray(bias, dtype=np.float64).reshape(-1)
    if task == "binary":
        return {"a": float(scale[0]), "b": float(bias[0])}
    if task == "multilabel":
        return {"temperature": {n: float(1 / s) for n, s in zip(names, scale, strict=True)}}
    return {"temperature": float(1 / scale[0])}


def stored_calibration(model: Any) -> dict[str, Any] | None:
    """What a model's calibration buffers hold, for an export's sidecar: None when they are the
    identity (or absent); else the method, its values, and the per-output `scale` and `bias`
    the graph applies to its logits (`logits = raw_logits * scale + bias`)."""
    scale = getattr(model, "calibration_scale", None)
    bias = getattr(model, "calibration_bias", None)
    if scale is None or bias is None:
        return None
    scale, bias = scale.tolist(), bias.tolist()
    if all(v == 1 for v in scale) and all(v == 0 for v in bias):
        return None
    task = model.task.name
    return {
        "method": METHODS[task],
        **describe(task, scale, bias, list(model.output_names)),
        "fitted_on": "val",
        "in_graph": "logits = raw_logits * scale + bias (calibrated logits)",
        "scale": scale,
        "bias": bias,
    }


def multiclass_nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean NLL of `softmax(logits / temperature)` for class indices `labels`."""
    log_p = log_softmax(logits / temperature, axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def binary_nll(logits: np.ndarray, targets: np.ndarray, scale: float, bias: float) -> float:
    """Mean NLL (binary cross-entropy) of `sigmoid(logits * scale + bias)` for `targets` in
    [0, 1] (0/1 labels, or Platt's smoothed targets)."""
    z = logits * scale + bias
    return float(np.mean(np.logaddexp(0.0, z) - targets * z))


def fit_temperature(nll: Any) -> float:
    """The temperature in [LOW, HIGH] minimising `nll(temperature)` (bounded Brent on log T)."""
    found = minimize_scalar(
        lambda log_t: nll(float(np.exp(log_t))),
        bounds=(np.log(LOW), np.log(HIGH)),
        method="bounded",
        options={"xatol": 1e-6},
    )
    return float(np.exp(found.x))


def platt_targets(labels: np.ndarray) -> np.ndarray:
    """Platt's (1999) smoothed targets: (N+ + 1) / (N+ + 2) for a positive, 1 / (N- + 2) for a
    negative (as scikit-learn's sigmoid calibration): a separable split then gives a finite
    slope instead of one that grows without bound."""
    positives = float(labels.sum())
    negatives = float(len(labels) - positives)
    return np.where(labels > 0, (positives + 1) / (positives + 2), 1 / (negatives + 2))


def fit_platt(logits: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """(a, b) of `sigmoid(a * logit + b)` minimising the NLL of Platt's smoothed targets, a in
    [LOW, HIGH] (L-BFGS-B on (log a, b) with the exact gradient, from the identity)."""
    targets = platt_targets(labels)

    def loss(x: np.ndarray) -> tuple[float, np.ndarray]:
        a, b = np.exp(x[0]), x[1]
        z = logits * a + b
        residual = 1.0 / (1.0 + np.exp(-z)) - targets  # d NLL / d z per image
        grad = np.array([np.mean(residual * logits) * a, np.mean(residual)])
        return binary_nll(logits, targets, a, b), grad

    bounds = [(np.log(LOW), np.log(HIGH)), (None, None)]
    found = minimize(loss, np.zeros(2), jac=True, method="L-BFGS-B", bounds=bounds)
    return float(np.exp(found.x[0])), float(found.x[1])


def fit_column(task: str, logits: np.ndarray, targets: np.ndarray) -> tuple[float, float]:
    """(scale, bias) of one sigmoid output: Platt's (a, b) for binary, (1/T, 0) for a label
    (both on Platt's smoothed targets); the identity when the targets hold a single class."""
    y = targets.astype(np.float64)
    if len(np.unique(y)) < 2:
        return 1.0, 0.0
    if task == "binary":
        return fit_platt(logits, y)
    smoothed = platt_targets(y)
    return 1 / fit_temperature(lambda t: binary_nll(logits, smoothed, 1 / t, 0.0)), 0.0


def sigmoid_nll(
    logits: np.ndarray, targets: np.ndarray, scale: np.ndarray, bias: np.ndarray
) -> float:
    """The mean NLL over the known (>= 0) entries of (N, outputs) `targets` (as the training
    loss, `graytransfer.task.multilabel.masked_bce`); NaN without any."""
    known = targets >= 0
    if not known.any():
        return float("nan")
    z = logits * scale + bias
    y = np.clip(targets, 0, 1)
    return float((np.logaddexp(0.0, z) - y * z)[known].mean())


@dataclass(frozen=True)
class TemperatureScaling:
    """Fits the task's calibration on validation logits (see the module docstring)."""

    def fit(
        self, task: str, logits: np.ndarray, labels: np.ndarray, names: list[str]
    ) -> FittedCalibration:
        """The map of `task` fitted on `logits` (N, outputs) and the labels the data yields
        ((N,) class indices; (N, L) of 1/0/-1 for multilabel); `names` name the outputs."""
        z = np.asarray(logits, dtype=np.float64).reshape(len(labels), -1)
        y = np.asarray(labels, dtype=np.int64)
        scale, bias = np.ones(z.shape[1]), np.zeros(z.shape[1])
        if task == "multiclass":
            before = multiclass_nll(z, y, 1.0)
            t = fit_temperature(lambda t: multiclass_nll(z, y, t))
            scale[:] = 1 / t
            after = multiclass_nll(z, y, t)
        else:
            targets = y.reshape(len(z), -1)
            known = targets >= 0
            for k in range(z.shape[1]):
                scale[k], bias[k] = fit_column(task, z[known[:, k], k], targets[known[:, k], k])
            before = sigmoid_nll(z, targets, np.ones_like(scale), np.zeros_like(bias))
            after = sigmoid_nll(z, targets, scale, bias)
        return FittedCalibration(
            task=task,
            method=METHODS[task],
            scale=scale,
            bias=bias,
            names=list(names),
            images=len(z),
            nll_before=before,
            nll_after=after,
        )
