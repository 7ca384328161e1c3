"""Data modules over files a test wrote, set up for fitting: 16x16 images, no worker processes."""

from __future__ import annotations

from pathlib import Path

from graytransfer.data import CsvDataModule, FolderDataModule


def folder_module(root: Path, **kwargs) -> FolderDataModule:
    """`FolderDataModule` over the class folders under `root` (batches of 8), after
    `setup("fit")`; `kwargs` override its arguments."""
    kwargs = {"image_size": 16, "num_workers": 0, "batch_size": 8, **kwargs}
    data = FolderDataModule(root=str(root), **kwargs)
    data.setup("fit")
    return data


def csv_module(csv: Path, **kwargs) -> CsvDataModule:
    """`CsvDataModule` over the table `csv`, after `setup("fit")`; `kwargs` override its
    arguments."""
    data = CsvDataModule(csv=str(csv), **{"image_size": 16, "num_workers": 0, **kwargs})
    data.setup("fit")
    return data
