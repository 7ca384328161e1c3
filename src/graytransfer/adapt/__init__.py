"""Grayscale adaptation strategies: one small class each, selected by `adapt=NAME`.

`base` holds the contract (`Strategy`, the weights' `BackboneDataConfig`) and the shared input
module; `stem` and `collapse` the surgery on the backbone's first conv; one module per strategy;
`cost` (parameters, MACs, bytes of a strategy), `equivalence` (the exact identities between
strategies, measured) and `preview` (pictures of what the backbone sees); `intensity` (raw
full-depth values -> 0..255, `intensity=NAME`) and `mapped` (that mapping chained in front of a
strategy's input module).

May import only the base modules (`errors`) and timm/torch; the model imports it, not the
other way round.
"""

from graytransfer.adapt.adapter import Adapter
from graytransfer.adapt.base import GrayToFloat, Strategy
from graytransfer.adapt.colormap import Colormap
from graytransfer.adapt.fold import Fold
from graytransfer.adapt.keras import Keras
from graytransfer.adapt.luma import Luma
from graytransfer.adapt.mean import Mean
from graytransfer.adapt.repeat import Repeat
from graytransfer.adapt.scratch import Scratch
from graytransfer.adapt.stack import Stack
from graytransfer.adapt.sum import Sum
from graytransfer.adapt.windows import Windows

__all__ = [
    "Adapter",
    "Colormap",
    "Fold",
    "GrayToFloat",
    "Keras",
    "Luma",
    "Mean",
    "Repeat",
    "Scratch",
    "Stack",
    "Strategy",
    "Sum",
    "Windows",
]
