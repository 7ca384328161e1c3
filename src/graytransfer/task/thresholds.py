"""Decision thresholds chosen on validation scores.

A rule maps the probabilities of one output and their 0/1 targets to the threshold above which
(`p >= t`) an image counts as positive:

- `max_f1`: the threshold of the precision-recall curve with the highest F1;
- `youden`: the ROC threshold with the highest Youden's J (sensitivity + specificity - 1);
- `sensitivity`: the highest threshold whose sensitivity is at least `target_sensitivity`
  (a screening operating point);
- `fixed`: always `fixed` (0.5 by default), nothing is learnt from the validation split.

An output whose validation targets hold a single class (no ROC, no F1 to maximise) keeps the
`fixed` threshold. Curves come from scikit-learn (`roc_curve`, `precision_recall_curve`).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.metrics import precision_recall_curve, roc_curve

from graytransfer.errors import UserError

RULES = ("max_f1", "youden", "sensitivity", "fixed")


def check_rule(rule: str, target_sensitivity: float, fixed: float) -> None:
    """UserError (one line, naming the key) for an unknown rule or an out-of-range value."""
    if rule not in RULES:
        raise UserError(f"task.threshold: '{rule}' is not one of {list(RULES)}")
    if not 0 < target_sensitivity <= 1:
        raise UserError(f"task.target_sensitivity: {target_sensitivity} must be in (0, 1]")
    if not 0 < fixed < 1:
        raise UserError(f"task.fixed: {fixed} must be in (0, 1)")


def choose_threshold(
    probs: np.ndarray, targets: np.ndarray, rule: str, target_sensitivity: float, fixed: float
) -> float:
    """The threshold `rule` picks for one output (`targets` 0/1, unknowns already removed)."""
    if rule == "fixed" or len(np.unique(targets)) < 2:
        return float(fixed)
    if rule == "max_f1":
        precision, recall, cuts = precision_recall_curve(targets, probs)
        f1 = 2 * precision * recall / np.clip(precision + recall, 1e-12, None)
        return float(cuts[int(np.argmax(f1[:-1]))])
    fpr, tpr, cuts = roc_curve(targets, probs, drop_intermediate=False)
    cuts = np.clip(cuts, 0.0, 1.0)  # sklearn's first cut is +inf (nothing positive)
    if rule == "youden":
        return float(cuts[int(np.argmax(tpr - fpr))])
    reached = np.flatnonzero(tpr >= target_sensitivity)  # tpr grows as the cut falls
    return float(cuts[reached[0]])


def choose_thresholds(
    probs: torch.Tensor, targets: torch.Tensor, rule: str, target_sensitivity: float, fixed: float
) -> torch.Tensor:
    """One threshold per column of `probs` (N, K); targets (N, K) hold 0, 1 or -1 (unknown,
    left out)."""
    p = probs.detach().float().cpu().numpy()
    t = targets.detach().cpu().numpy()
    chosen = []
    for k in range(p.shape[1]):
        known = t[:, k] >= 0
        chosen.append(choose_threshold(p[known, k], t[known, k], rule, target_sensitivity, fixed))
    return torch.tensor(chosen, dtype=torch.float32)
