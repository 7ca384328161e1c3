"""Multi-label label formats: CheXpert-style 1/0/-1/blank columns, ChestX-ray14-style `|` lists.

Multi-label labels are int64 (N, L) matrices of 1 (present), 0 (absent) and -1 (unknown, masked
in the loss and the metrics). `data.uncertain` says what CheXpert's uncertain value (-1) becomes:
`ones` (U-Ones), `zeros` (U-Zeros) or `ignore` (U-Ignore: unknown, masked). A blank cell means
the report did not mention the finding and is 0 (absent), as in the CheXpert paper's training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from graytransfer.errors import UserError

UNCERTAIN = ("ones", "zeros", "ignore")
#: CheXpert cell text -> value before the uncertain policy (blank: not mentioned, absent)
FLAGS = {"1": 1, "1.0": 1, "0": 0, "0.0": 0, "-1": -1, "-1.0": -1, "": 0}


def check_uncertain(uncertain: str) -> str:
    if uncertain not in UNCERTAIN:
        raise UserError(f"data.uncertain: '{uncertain}' is not one of {list(UNCERTAIN)}")
    return uncertain


def parse_flag(text: str | None, uncertain: str, where: str) -> int:
    """One CheXpert-style cell (`1`, `0`, `-1`, blank; `1.0` forms too) as 1, 0 or -1
    (unknown) under the `uncertain` policy; anything else is a UserError naming `where`."""
    value = FLAGS.get((text or "").strip())
    if value is None:
        raise UserError(
            f"{where}: value '{(text or '').strip()}' is not 1, 0, -1 or blank; fix the cell"
        )
    if value == -1:
        return {"ones": 1, "zeros": 0, "ignore": -1}[uncertain]
    return value


def split_names(text: str | None, separator: str, no_label: str | None) -> list[str]:
    """The label names in one `separator`-joined cell; `no_label` (e.g. `No Finding`) and a
    blank cell mean no positive label."""
    names = [n.strip() for n in (text or "").split(separator) if n.strip()]
    return [n for n in names if n != no_label]


def label_counts(labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Images per class (one label per image) or positives per label (a label matrix)."""
    if labels.ndim == 2:
        return (labels == 1).sum(dim=0)
    return torch.bincount(labels.long(), minlength=num_classes)


def positive_weights(labels: torch.Tensor) -> list[float]:
    """BCE `pos_weight` per label: known negatives / positives in training (1 for a label
    without positives, which the task refuses anyway)."""
    positives = (labels == 1).sum(dim=0).double()
    negatives = (labels == 0).sum(dim=0).double()
    weights = torch.where(positives > 0, negatives / positives.clamp(min=1), 1.0)
    return [float(w) for w in weights]


def describe_label(label: int | Sequence[int], class_names: Sequence[str]) -> tuple[str, str]:
    """(label, class) cells of a split file: `3`, `cat`; or `0|3`, `a|d` (positives) for a
    label vector, `?` marking unknowns (`2?`)."""
    if isinstance(label, int):
        return str(label), class_names[label]
    on = [i for i, v in enumerate(label) if v == 1]
    unknown = [f"{i}?" for i, v in enumerate(label) if v < 0]
    return "|".join([*map(str, on), *unknown]), "|".join(class_names[i] for i in on)
