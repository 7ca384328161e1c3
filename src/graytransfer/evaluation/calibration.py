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

Lower is better for both; 0 is perfect. A label or task without any known target is NaN.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from graytransfer.evaluation.predictions import Predictions
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
