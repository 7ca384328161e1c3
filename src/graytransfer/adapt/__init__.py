"""Grayscale adaptation strategies: one small class each, selected by `adapt=NAME`."""

from graytransfer.adapt.base import GrayToFloat, Strategy
from graytransfer.adapt.repeat import Repeat
from graytransfer.adapt.sum import Sum

__all__ = ["GrayToFloat", "Repeat", "Strategy", "Sum"]
