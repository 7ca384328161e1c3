"""Calibration of the test probabilities: can they be read as probabilities?

- ECE (expected calibration error): the probabilities are put in `bins` equal-width bins on
  [0, 1] (15 by default; bin `b` holds `b/bins <= p < (b+1)/bins`, p = 1 in the last); in each
  bin the mean probability (`confidence`) is compared with how often the event happened
  (`accuracy`); ECE is the count-weighted mean of `|accuracy - confidence|` over the bins.
  Multiclass: the top-class probability, the event "the argmax class is the true one". Binary:
  the positive class's probability, the event "the label is positive". Multilabel: the same per
  label on its known targets (-1 left out), then the macro mean over the labels.
- Brier score: the mean squared error of the probabilities. Multiclass: per image the squared
  error of the probability vector against the one-hot label, summed over the classes, then the
  mean over images (0 to 2). Binary: `(p - label)^2` of the positive class's probability, the
  mean over images (0 to 1; scikit-learn's `brier_score_loss`). Multilabel: the binary score per
  label on its known targets, then the macro mean.
- The reliability diagram's bins (`ReliabilityBins`: confidence, accuracy, count per bin); for
  multilabel one diagram of every label's known targets pooled. `reliability_png` draws it.
- `weighted_calibration`: ECE and Brier for many bootstrap resamples at once (a count per image,
  as `graytransfer.evaluation.weighted`), equal to `calibration` on each resampled set (tested):
  their intervals join the bootstrap's (`calibration_names`).
- `uncalibrated`: the probabilities before a stored calibration (`calibration=temperature`),
  recovered through the inverse of its map (exact up to float32 rounding of saturated
  probabilities), so `test/ece_uncalibrated` and `test/brier_uncalibrated` show its effect.

Lower is better for both; 0 is perfect. A label or task without any known target is NaN.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from graytransfer.evaluation.predictions import Predictions
from graytransfer.evaluation.weighted import nanmean, ratio
from graytransfer.task.multilabel import label_metric

#: equal-width confidence bins of the ECE and the diagram
BINS = 15
NAN = float("nan")


@dataclass(frozen=True)
class ReliabilityBins:
    """Per bin: the mean probability (`confidence`), how often the event happened (`accuracy`;
    both NaN for an empty bin) and how many probabilities fell in it (`count`)."""

    confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(0.0, 1.0, len(self.count) + 1)

    @property
    def ece(self) -> float:
        """The count-weighted mean of `|accuracy - confidence|` over the non-empty bins."""
        total = int(self.count.sum())
        if total == 0:
            return NAN
        filled = self.count > 0
        gaps = np.abs(self.accuracy[filled] - self.confidence[filled])
        return float((self.count[filled] * gaps).sum() / total)


def reliability_bins(
    confidence: np.ndarray, happened: np.ndarray, bins: int = BINS
) -> ReliabilityBins:
    """The bins of probabilities `confidence` (in [0, 1]) of events `happened` (0/1)."""
    p = np.asarray(confidence, dtype=np.float64).reshape(-1)
    y = np.asarray(happened, dtype=np.float64).reshape(-1)
    which = np.clip(np.floor(p * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(which, weights=p, minlength=bins) / count
        mean_y = np.bincount(which, weights=y, minlength=bins) / count
    return ReliabilityBins(confidence=mean_p, accuracy=mean_y, count=count)


def brier(probs: np.ndarray, targets: np.ndarray) -> float:
    """The mean over rows of the squared error summed over columns (NaN without rows)."""
    probs = np.asarray(probs, dtype=np.float64).reshape(len(targets), -1)
    targets = np.asarray(targets, dtype=np.float64).reshape(len(targets), -1)
    if len(targets) == 0:
        return NAN
    return float(((probs - targets) ** 2).sum(axis=1).mean())


@dataclass(frozen=True)
class Calibration:
    """A task's ECE and Brier score, per label for multilabel, and the diagram's bins."""

    task: str
    ece: float
    brier: float
    bins: ReliabilityBins
    per_label: dict[str, tuple[float, float]] = field(default_factory=dict)  # (ece, brier)

    def metrics(self) -> dict[str, float]:
        """`ece`, `brier` and per label `ece_per_label/<label>`, `brier_per_label/<label>`
        (the names in `metrics.json`, after `test/`)."""
        values = {"ece": self.ece, "brier": self.brier}
        for metric, column in (("ece", 0), ("brier", 1)):
            for name, pair in self.per_label.items():
                values[label_metric(metric, name)] = pair[column]
        return values


def calibration(preds: Predictions, bins: int = BINS) -> Calibration:
    """The ECE, Brier score and reliability bins of `preds` (see the module docstring)."""
    if preds.task == "multiclass":
        top = preds.probs.max(axis=1) if len(preds) else np.zeros(0)
        right = preds.decisions == preds.labels
        found = reliability_bins(top, right, bins)
        return Calibration("multiclass", found.ece, brier(preds.probs, preds.targets), found)
    targets = preds.targets
    pooled_p, pooled_y, per_label = [], [], {}
    for k, name in enumerate(preds.names):
        known = targets[:, k] >= 0
        p, y = preds.probs[known, k], targets[known, k]
        pooled_p.append(p)
        pooled_y.append(y)
        per_label[name] = (reliability_bins(p, y, bins).ece, brier(p, y))
    pooled = reliability_bins(np.concatenate(pooled_p), np.concatenate(pooled_y), bins)
    if preds.task == "binary":
        ((ece, score),) = per_label.values()
        return Calibration("binary", ece, score, pooled)
    eces = [e for e, _ in per_label.values()]
    scores = [s for _, s in per_label.values()]
    return Calibration("multilabel", _mean(eces), _mean(scores), pooled, per_label)


def _mean(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else NAN


def calibration_names(preds: Predictions) -> list[str]:
    """The names `calibration(preds).metrics()` and `weighted_calibration` give."""
    names = ["ece", "brier"]
    if preds.task == "multilabel":
        names += [label_metric(m, n) for m in ("ece", "brier") for n in preds.names]
    return names


def weighted_calibration(
    preds: Predictions, counts: np.ndarray, bins: int = BINS
) -> dict[str, np.ndarray]:
    """ECE and Brier score of `preds` for every row of `counts` (resamples, N): name -> (R,).
    ECE is `sum_b |sum_{i in b} w_i (event_i - p_i)| / sum_i w_i` (the bins' count-weighted
    |accuracy - confidence|); Brier the weighted mean squared error. Every output's sums come
    from one matrix product."""
    weights = np.asarray(counts, dtype=np.float64)
    if preds.task == "multiclass":
        top = preds.probs.max(axis=1)
        right = (preds.decisions == preds.labels).astype(np.float64)
        squared = ((preds.probs - preds.targets) ** 2).sum(axis=1)
        ((ece, score),) = _weighted_ece_brier(weights, [(top, right, squared, None)], bins)
        return {"ece": ece, "brier": score}
    targets, outputs = preds.targets, []
    for k in range(len(preds.names)):
        known = (targets[:, k] >= 0).astype(np.float64)
        p, y = preds.probs[:, k], np.clip(targets[:, k], 0, 1).astype(np.float64)
        outputs.append((p, y, known * (p - y) ** 2, known))
    per_label = dict(zip(preds.names, _weighted_ece_brier(weights, outputs, bins), strict=True))
    if preds.task == "binary":
        ((ece, score),) = per_label.values()
        return {"ece": ece, "brier": score}
    values = {
        "ece": nanmean(np.stack([e for e, _ in per_label.values()])),
        "brier": nanmean(np.stack([s for _, s in per_label.values()])),
    }
    for metric, column in (("ece", 0), ("brier", 1)):
        for name, pair in per_label.items():
            values[label_metric(metric, name)] = pair[column]
    return values


def _weighted_ece_brier(
    weights: np.ndarray, outputs: list[tuple[np.ndarray, ...]], bins: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(ECE, Brier) per output (p, happened, squared error, known or None: all known), from one
    product of `weights` with, per output, its bins' (happened - p) sums, squared error, count."""
    n, width = weights.shape[1], bins + 2
    columns = np.zeros((n, width * len(outputs)))
    for k, (p, happened, squared, known) in enumerate(outputs):
        known = np.ones(n) if known is None else known
        which = np.clip(np.floor(p * bins).astype(np.int64), 0, bins - 1)
        columns[np.arange(n), k * width + which] = known * (happened - p)
        columns[:, k * width + bins], columns[:, k * width + bins + 1] = squared, known
    sums = weights @ columns
    found = []
    for k in range(len(outputs)):
        block = sums[:, k * width : (k + 1) * width]
        ece = ratio(np.abs(block[:, :bins]).sum(axis=1), block[:, bins + 1])
        found.append((ece, ratio(block[:, bins], block[:, bins + 1])))
    return found


def uncalibrated(preds: Predictions, scale: np.ndarray, bias: np.ndarray) -> Predictions:
    """`preds` with the probabilities before the calibration `logits * scale + bias` (per
    output, scale > 0): logits recovered from the probabilities (softmax: up to a constant per
    image, which softmax ignores), mapped back, and turned into probabilities again."""
    from scipy.special import expit, logit, softmax

    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    bias = np.asarray(bias, dtype=np.float64).reshape(-1)
    tiny = np.finfo(np.float64).tiny
    if preds.task == "multiclass":
        logits = np.log(np.clip(preds.probs, tiny, None))
        probs = softmax((logits - bias) / scale, axis=1)
    else:
        # float32 probabilities: exact near 0 down to its smallest normal, steps of 2^-24 near 1
        low, high = np.finfo(np.float32).tiny, 1 - np.finfo(np.float32).epsneg
        logits = logit(np.clip(preds.probs, low, high))
        probs = expit((logits - bias) / scale)
    return replace(preds, probs=probs)


def before_calibration(preds: Predictions, model: Any) -> dict[str, float]:
    """`ece_uncalibrated` and `brier_uncalibrated` of `preds` when `model` holds a calibration
    (its `calibration_scale` / `calibration_bias` buffers are not the identity); else nothing."""
    scale = getattr(model, "calibration_scale", None)
    bias = getattr(model, "calibration_bias", None)
    if scale is None or bias is None:
        return {}
    scale, bias = scale.detach().cpu().numpy(), bias.detach().cpu().numpy()
    if np.all(scale == 1) and np.all(bias == 0):
        return {}
    found = calibration(uncalibrated(preds, scale, bias))
    return {"ece_uncalibrated": found.ece, "brier_uncalibrated": found.brier}


AXES = {
    "multiclass": ("top-class probability", "share where the top class is right"),
    "binary": ("predicted probability of the positive class", "share positive"),
    "multilabel": ("predicted probability (all labels pooled)", "share positive"),
}


def reliability_png(found: Calibration) -> bytes:
    """The reliability diagram as PNG bytes: per bin a bar of its accuracy against the diagonal
    (perfect calibration), the bin's mean probability as a dot above its centre (the gap from
    the bar's top to the dot is the bin's miscalibration), the counts below; ECE in the
    title (multilabel: the macro ECE over labels; the bars pool every label)."""
    from matplotlib.figure import Figure  # no pyplot: no global backend to set

    bins = found.bins
    edges = bins.edges
    width = edges[1] - edges[0]
    filled = bins.count > 0
    fig = Figure(figsize=(5.0, 6.0))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(
        edges[:-1][filled],
        bins.accuracy[filled],
        width=width,
        align="edge",
        edgecolor="black",
        color="tab:blue",
        label="observed",
    )
    centers = edges[:-1][filled] + width / 2  # the gap from bar top to dot: the bin's error
    top.plot(centers, bins.confidence[filled], "o", color="tab:orange", label="mean p of the bin")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfectly calibrated")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    x_label, y_label = AXES[found.task]
    top.set_ylabel(y_label)
    top.legend(loc="upper left", fontsize="small")
    ece = f"{found.ece:.4f}" if np.isfinite(found.ece) else "n/a"
    macro = " (macro over labels)" if found.task == "multilabel" else ""
    top.set_title(f"Reliability, {found.task}: ECE = {ece}{macro}")
    bottom.bar(edges[:-1], bins.count, width=width, align="edge", color="gray", edgecolor="black")
    bottom.set_ylabel("count")
    bottom.set_xlabel(x_label)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
