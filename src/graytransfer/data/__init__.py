"""Data modules yielding single-channel integer (N, 1, H, W) batches, one per `data=NAME`.

Grouped by job, the way `adapt/` reads:
- here, the shared base: `base` (`GrayscaleDataModule`, the typed `PixelValues` every module
  hands the model), `augment` (presets), `resize`, `labels` (multi-label formats), `sampler`
  (DDP evaluation);
- `sources/`: one module per data source (`folder`, `csvlist`, `mnist`, `medmnist`, `textures`,
  `digits`, `shards`) and their two shared bases (`file_base`, `array_base`);
- `decode/`: a file's pixels (`gray`, `depth`, `dicom`, `idx`, `jpeg`, `finite`) and the
  pre-training bad-file `scan`;
- `split/`: train/val/test splits (`by_class`, `stratify`: multi-label and patient groups);
- `store/`: where images are held (`in_memory`, `file_images`) and the LitData shards
  (`shard_writer`, `shard_manifest`, `shard_remote`).

Imports point down: `sources` -> `store`, `split`, `decode` -> the shared base. This face
exports every data module, so `conf/data/*.yaml` targets `graytransfer.data.<Class>`.
May import only the base modules (`errors`, `atomic`); nothing here knows the model.
"""

from graytransfer.data.base import GrayscaleDataModule, PixelValues, as_size
from graytransfer.data.sources.csvlist import CsvDataModule
from graytransfer.data.sources.digits import DigitsDataModule
from graytransfer.data.sources.folder import FolderDataModule
from graytransfer.data.sources.medmnist import MedMnistDataModule
from graytransfer.data.sources.mnist import (
    EmnistDataModule,
    FashionMnistDataModule,
    KmnistDataModule,
    MnistDataModule,
)
from graytransfer.data.sources.shards import ShardDataModule
from graytransfer.data.sources.textures import TexturesDataModule

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
    "PixelValues",
    "ShardDataModule",
    "TexturesDataModule",
    "as_size",
]
