"""Per-output metrics of probabilities against 0/1 targets, unknown targets (-1) left out.

Each output (a label of a multi-label task, the positive class of a binary one) is scored on its
own known targets with torchmetrics' binary functionals; an output whose known targets hold a
single class has no AUROC or AP (NaN) and is left out of the macro means (`nanmean`), as
scikit-learn would refuse it.
"""

from __future__ import annotations

import torch
from torchmetrics.functional.classification import binary_auroc, binary_average_precision

PER_OUTPUT = ("auroc", "ap", "f1", "sensitivity", "specificity", "prevalence")


def _nan() -> torch.Tensor:
    return torch.tensor(float("nan"))


def output_metrics(
    probs: torch.Tensor, targets: torch.Tensor, threshold: float
) -> dict[str, torch.Tensor]:
    """AUROC, AP, F1, sensitivity, specificity, prevalence of one output (1-D tensors)."""
    known = targets >= 0
    p, t = probs[known].float(), targets[known].long()
    if len(t) == 0:
        return {name: _nan() for name in PER_OUTPUT}
    decided = (p >= threshold).long()
    tp = float(((decided == 1) & (t == 1)).sum())
    fp = float(((decided == 1) & (t == 0)).sum())
    fn = float(((decided == 0) & (t == 1)).sum())
    tn = float(((decided == 0) & (t == 0)).sum())
    both = bool((t == 1).any() and (t == 0).any())
    return {
        "auroc": binary_auroc(p, t).float() if both else _nan(),
        "ap": binary_average_precision(p, t).float() if both else _nan(),
        "f1": torch.tensor(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0),
        "sensitivity": torch.tensor(tp / (tp + fn)) if tp + fn else _nan(),
        "specificity": torch.tensor(tn / (tn + fp)) if tn + fp else _nan(),
        "prevalence": torch.tensor((tp + fn) / len(t)),
    }


def per_output_metrics(
    probs: torch.Tensor, targets: torch.Tensor, thresholds: torch.Tensor
) -> dict[str, torch.Tensor]:
    """`output_metrics` of every column of `probs` (N, K): name -> (K,) tensor."""
    columns = [
        output_metrics(probs[:, k], targets[:, k], float(thresholds[k]))
        for k in range(probs.shape[1])
    ]
    return {name: torch.stack([c[name] for c in columns]) for name in PER_OUTPUT}


def micro_auroc(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """AUROC of every known (image, output) pair pooled together."""
    known = targets >= 0
    p, t = probs[known].float(), targets[known].long()
    if not ((t == 1).any() and (t == 0).any()):
        return _nan()
    return binary_auroc(p, t).float()
