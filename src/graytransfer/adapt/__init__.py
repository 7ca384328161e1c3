"""Grayscale adaptation strategies: one small class each, selected by `adapt=NAME`."""

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
