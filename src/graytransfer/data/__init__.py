"""Data modules yielding single-channel uint8 (N, 1, H, W) batches, one per `data=NAME`.

`base` (the shared LightningDataModule), the modules per source (`digits`, `folder`, `csvlist`,
`mnist`, `medmnist`, `textures`: scikit-image's bundled photos cut into patches), and their
parts: decoding (`images`, `dicom`, `idx`), the bad-file `scan`
(and `jpeg`, its proof that a JPEG's pixels decode), `split` and `stratify` (multi-label and
patient-group splits), `labels` (multi-label formats), `augment`, `transforms`, the
in-memory cache (`memory`, `arrays`), the DDP evaluation `sampler` and `required` (the config keys
a run must be given, checked before any work), and the LitData shards: `shards` (`data=shards`,
streamed training), `shard_writer` and `shard_manifest` (what `python -m graytransfer.tools.shards`
writes and how it is checked) and `shard_remote` (s3/gs/azure roots).

May import only the base modules (`errors`); nothing here knows the model.
"""

from graytransfer.data.base import GrayscaleDataModule, PixelValues, as_size
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
from graytransfer.data.shards import ShardDataModule
from graytransfer.data.textures import TexturesDataModule

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
