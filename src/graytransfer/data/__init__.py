"""Data modules yielding single-channel uint8 batches."""

from graytransfer.data.base import GrayscaleDataModule, as_size
from graytransfer.data.csvlist import CsvDataModule
from graytransfer.data.digits import DigitsDataModule
from graytransfer.data.folder import FolderDataModule
from graytransfer.data.medmnist import MedMnistDataModule
from graytransfer.data.mnist import (
    EmnistDataModule,
    FashionMnistDataModule,
    KmnistDataModule,
    MnistDataModule,
)

__all__ = [
    "CsvDataModule",
    "DigitsDataModule",
    "EmnistDataModule",
    "FashionMnistDataModule",
    "FolderDataModule",
    "GrayscaleDataModule",
    "KmnistDataModule",
    "MedMnistDataModule",
    "MnistDataModule",
    "as_size",
]
