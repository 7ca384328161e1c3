"""`data=shards`: train from pre-decoded LitData shards (local folder or s3/gs/azure URL).

The shards are written by `python -m graytransfer.tools.shards` (see `shard_writer`) from any
data module: decoded, resized to their stored size, in the module's own split. Reading them
costs no decoding, and LitData streams them chunk by chunk, so memory stays flat however large
the set. Under DDP (and multi-node) LitData gives each rank its own share of the chunks.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from graytransfer.data.augment import build_augment
from graytransfer.data.base import NATIVE, GrayscaleDataModule, as_size
from graytransfer.data.store.shard_manifest import (
    MANIFEST,
    SPLIT_FILE,
    check_matches,
    flat_items,
    read_manifest,
    read_split_file,
    stored_values,
    verify_chunks,
)
from graytransfer.data.store.shard_remote import fetch_small_files, is_remote, litdata
from graytransfer.errors import UserError

if TYPE_CHECKING:  # litdata is the `shards` extra, imported when a loader is made
    from litdata import StreamingDataLoader, StreamingDataset


class ShardSplit(torch.utils.data.Dataset):
    """One split's ids and labels, in shard index order (for `split_record`, class counts, loss
    weights), and random access to its items (`split[i]` -> `(image (1, H, W), label)`, e.g.
    for previews). Training and evaluation stream through `ShardDataModule`'s loaders."""

    def __init__(self, ids: list[str], labels: list, open_split: Callable[[], Any]) -> None:
        self.ids = ids
        self.labels = torch.tensor(labels, dtype=torch.long)
        self._open = open_split
        self._reader: Any = None

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self._reader is None:
            self._reader = self._open()
        return self._reader[index]


class StoredSizeError(ValueError):
    """A flat stored image does not hold the manifest's H x W pixels (the message says what it
    holds); `ShardDataModule` turns it into a one-line UserError naming the shards."""


class ToPair:
    """A stored item -> `(image (1, H, W), label)`, with the training augmentation (a picklable
    callable for the loader workers). `shape` (H, W) given: the item's image is format /2's
    flat raw bytes (already a private copy), viewed at that shape with no further copy;
    None: format /1's shaped array."""

    def __init__(
        self,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        shape: tuple[int, int] | None = None,
    ) -> None:
        self.transform = transform
        self.shape = None if shape is None else (1, *shape)

    def __call__(self, item: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
        array = item["image"]
        if not array.flags.writeable:
            array = np.array(array)
        if self.shape is None:
            image = torch.from_numpy(array).unsqueeze(0)
        elif array.size != self.shape[1] * self.shape[2]:
            raise StoredSizeError(f"{array.size} {array.dtype} pixels")
        else:
            image = torch.from_numpy(array).view(self.shape)
        if self.transform is not None:
            image = self.transform(image)
        return image, torch.as_tensor(item["label"], dtype=torch.long)


class ShardDataModule(GrayscaleDataModule):
    """Streams `root/{train,val,test}` (LitData) written by `graytransfer.tools.shards`.

    `image_size` must be the shards' stored size (`native` takes it from the manifest);
    `classes`, when given, must be the stored class list. `verify`: `full` checks every chunk's
    SHA-256 against the manifest before training, `size` only that each exists with its size,
    `none` nothing. Training streams shuffled by `seed` (a new order each epoch); under DDP
    LitData hands each rank a disjoint share and drops the last partial round so every rank
    runs the same number of steps (at most `world_size * batch_size - 1` images an epoch, never
    a duplicate). Validation and test read the shards by index through the project's unpadded
    evaluation sampler (`graytransfer.data.sampler`): each image is scored once.
    The training loader is a `StreamingDataLoader`, whose position Lightning saves in every
    checkpoint, so a run resumed mid-epoch continues where it stopped. `cache_dir` holds the
    chunks of a remote root (LitData's default cache when null); `storage_options` go to LitData
    (credentials, endpoint). `balance=sampler` is not available for streamed data.
    The model receives exactly what the source data module gave it: the manifest carries the
    stored `dtype`, the measured `value_range` and the DICOM `voi_window`, and full-depth
    shards (uint16 / int16) get geometric augmentation only, like the folder path.
    """

    def __init__(
        self,
        root: str,
        image_size: int | Sequence[int] | str = NATIVE,
        batch_size: int = 64,
        num_workers: int | None = None,
        seed: int | None = 0,
        classes: Sequence[str] | None = None,
        verify: str = "full",
        cache_dir: str | None = None,
        storage_options: dict[str, Any] | None = None,
        **kwargs,
    ) -> None:
        if root in (None, "", "???"):
            raise UserError("data.root is not set: pass data.root=DIR (or s3://...) of shards")
        self.root = str(root)
        self.storage_options = dict(storage_options or {})
        self.cache_dir = cache_dir
        self.verify = verify
        self.classes = None if classes is None else list(classes)
        self.flips = (bool(kwargs.get("hflip", False)), bool(kwargs.get("vflip", False)))
        # the manifest is read in setup(); only `native` needs the stored size now
        self.manifest: dict[str, Any] | None = None
        if image_size == NATIVE:
            self.manifest = self._read_manifest()
            image_size = list(self.manifest["image_size"])
        super().__init__(as_size(image_size), batch_size, num_workers, seed, **kwargs)
        self._loader_state: dict[str, Any] | None = None
        self._train_loader: StreamingDataLoader | None = None
        if self.balance == "sampler":
            raise UserError(
                "data.balance=sampler is not available with data=shards (streamed data); use "
                "data.balance=loss"
            )

    def _read_manifest(self) -> dict[str, Any]:
        if is_remote(self.root):
            self.local_dir = fetch_small_files(self.root, self.storage_options, self.cache_dir)
        else:
            self.local_dir = Path(self.root).expanduser()
        return read_manifest(self.local_dir)

    @property
    def dtype(self) -> torch.dtype:
        """The stored dtype (uint8, or uint16 / int16 at full depth), from the manifest."""
        if self.manifest is None:
            self.manifest = self._read_manifest()
        return getattr(torch, self.manifest["dtype"])

    def _take_values(self) -> None:
        """`value_range` and `voi_window` as the source module measured them; at full depth,
        augmentation becomes geometric only, filling with the minimum (as `FileDataModule`)."""
        self.value_range, self.voi_window = stored_values(self.manifest, self.root)
        if self.dtype != torch.uint8:
            self.train_transform = build_augment(
                self.augment,
                self.image_size,
                *self.flips,
                geometric_only=True,
                fill=self.value_range[0],
            )

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if self.manifest is None:
            self.manifest = self._read_manifest()
        check_matches(self.manifest, self.root, self.image_size, self.classes)
        if not is_remote(self.root):
            verify_chunks(self.local_dir, self.manifest, self.verify)
        self._take_values()
        self.class_names = list(self.manifest["classes"])
        splits = read_split_file(self.local_dir / SPLIT_FILE)
        for name in ("train", "val", "test"):
            if name in splits and name in self.manifest["splits"]:
                reader = functools.partial(self._dataset, name, train=False)
                setattr(self, f"{name}_set", ShardSplit(*splits[name], reader))
        self._check_stored_items()

    def _check_stored_items(self) -> None:
        """The first stored image of each split has the manifest's size and dtype (a manifest
        edited by hand, or copied from other shards, stops here instead of training)."""
        expected = (tuple(self.manifest["image_size"]), self.manifest["dtype"])
        (height, width), dtype = expected
        for name, split in self._splits().items():
            try:
                image, _ = split[0]
                found = (tuple(image.shape[1:]), str(image.dtype).removeprefix("torch."))
                what = f"are {found[0][0]}x{found[0][1]} {found[1]}"
            except StoredSizeError as err:
                found, what = None, f"hold {err}"
            if found != expected:
                raise UserError(
                    f"shards '{self.root}': the stored {name} images {what} but {MANIFEST} "
                    f"says {height}x{width} {dtype}; the manifest does not belong to these "
                    "chunks: convert again"
                )
            split._reader = None  # opened again in the loader's own process

    def _split_url(self, name: str) -> str:
        if is_remote(self.root):
            return f"{self.root.rstrip('/')}/{name}"
        return str(self.local_dir / name)

    def _item_shape(self) -> tuple[int, int] | None:
        """The (H, W) that format /2's flat items are viewed at; None for format /1."""
        return tuple(self.manifest["image_size"]) if flat_items(self.manifest) else None

    def _dataset(self, name: str, train: bool) -> StreamingDataset:
        """A new LitData reader of split `name`: made when a loader is asked for, so that under
        DDP it sees the process group and reads this rank's share."""
        return litdata().StreamingDataset(
            self._split_url(name),
            cache_dir=self.cache_dir,
            shuffle=train,
            seed=self.seed,
            drop_last=None,  # under DDP: equal steps on every rank
            storage_options=self.storage_options,
            transform=ToPair(self.train_transform if train else None, self._item_shape()),
            # one item per read: LitData's "auto" decodes a window of up to 16 MB around each
            # item, and a shuffled read keeps one of them (16-bit 224x224: ~2 ms an image)
            batch_decode=0,
        )

    def _streaming(self, name: str, train: bool) -> StreamingDataLoader:
        split = getattr(self, f"{name}_set")
        if split is None:
            raise RuntimeError(f"{type(self).__name__}.setup() has not been called")
        return litdata().StreamingDataLoader(
            self._dataset(name, train),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            pin_memory=self._pin_memory(),
            persistent_workers=self.num_workers > 0,
            # a last training batch of one image breaks batch norm; drop only that one
            drop_last=train and len(split) % self.batch_size == 1,
        )

    def train_dataloader(self) -> StreamingDataLoader:
        loader = self._streaming("train", train=True)
        if self._loader_state is not None:
            loader.load_state_dict(self._loader_state)
            self._loader_state = None
        self._train_loader = loader
        return loader

    def state_dict(self) -> dict[str, Any]:
        """The training loader's position, saved in every checkpoint taken mid-epoch.

        Lightning saves it too (the fit loop's `combined_loader`), but restores it only after
        `configure_optimizers` has already built the loader (`estimated_stepping_batches`),
        so that copy is never applied; the data module's own state is restored first."""
        loader = self._train_loader
        trainer = getattr(self, "trainer", None)
        if loader is None or trainer is None:
            return {}
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return {}  # an epoch's end: the next epoch starts from its beginning
        return {"train_loader": loader.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state = state_dict.get("train_loader")
        if state is not None and self._train_loader is not None:
            self._train_loader.load_state_dict(state)
        else:
            self._loader_state = state

    def val_dataloader(self) -> DataLoader:
        return self._loader(self._unopened(self.val_set), train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader(self._unopened(self.test_set), train=False)

    @staticmethod
    def _unopened(split: ShardSplit | None) -> ShardSplit | None:
        """A copy of `split` whose reader opens in the loader's own process (worker)."""
        if split is None:
            return None
        fresh = copy.copy(split)
        fresh._reader = None
        return fresh

    def describe(self) -> str:
        dtype = self.manifest["dtype"] if self.manifest else "(not read yet)"
        return f"{super().describe()}, shards {dtype} from {self.root}"
