"""Checks on decoded pixel values that every reader shares (numpy only, so the image, 16-bit
and DICOM readers all import it without importing each other)."""

from __future__ import annotations

import numpy as np


def check_finite(array: np.ndarray, what: str = "values") -> np.ndarray:
    """`array` unchanged when every value is finite, else a ValueError naming which of NaN,
    +inf and -inf it holds (none has a grey level: the file is a bad file)."""
    if array.dtype.kind not in "fc" or np.isfinite(array).all():
        return array
    kinds = [
        name
        for name, found in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf))
        if found(array).any()
    ]
    raise ValueError(
        f"holds {' and '.join(kinds)} {what}: fix the file (a non-finite value has no grey level)"
    )
