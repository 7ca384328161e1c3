"""Image files on disk as a dataset: each item decoded (`graytransfer.data.decode.gray`) and
resized when a loader's worker reads it, a file that cannot be decoded stopping the run or
skipped (`data.on_bad_file`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from graytransfer.data.decode.gray import read_gray
from graytransfer.data.decode.scan import BadImageError
from graytransfer.errors import UserError

Transform = Callable[[torch.Tensor], torch.Tensor]


class ImageFiles(Dataset):
    """Files on disk with integer labels; item i is `(image (1, H, W), int64 label)`, the image
    uint8 or, at full depth, `dtype` (uint16 / int16).

    Each item is decoded and resized when it is read (in the loader's workers); `transform`
    (augmentation on uint8 tensors) is applied after. `ids` names the items in split files.

    A file that cannot be decoded raises a `BadImageError` naming it (`on_bad_file=error`), or
    (`skip`) is marked in `unreadable` and replaced by the next readable item (wrapping), so
    batches keep their size and the same index always gives the same item. `unreadable` lives in
    shared memory: marks made in the loader's worker processes are seen by the main process.
    """

    def __init__(
        self,
        paths: Sequence[Path],
        labels: Sequence[int],
        size: tuple[int, int],
        scale16: str = "full",
        dicom_window: Sequence[float] | None = None,
        transform: Transform | None = None,
        on_bad_file: str = "error",
        dtype: np.dtype | None = None,
    ) -> None:
        self.dtype = dtype
        self.paths = [Path(p) for p in paths]
        self.labels = torch.as_tensor(list(labels), dtype=torch.long)
        self.size = size
        self.scale16 = scale16
        self.dicom_window = dicom_window
        self.transform = transform
        self.on_bad_file = on_bad_file
        self.unreadable = torch.zeros(len(self.paths), dtype=torch.bool)
        if len(self.paths):
            self.unreadable.share_memory_()

    def unreadable_paths(self) -> list[Path]:
        """The files found unreadable so far (in any process), in item order."""
        return [self.paths[i] for i in self.unreadable.nonzero().flatten().tolist()]

    @property
    def ids(self) -> list[str]:
        return [str(p) for p in self.paths]

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        count = len(self.paths)
        for step in range(count):
            item = (index + step) % count
            if self.unreadable[item]:
                continue
            try:
                image = read_gray(
                    self.paths[item], self.size, self.scale16, self.dicom_window, self.dtype
                )
            except UserError:
                raise
            except Exception as err:  # any decoder failure: the file is bad
                if self.on_bad_file != "skip":
                    raise BadImageError(bad_image_message(self.paths[item], err)) from None
                self.unreadable[item] = True
                continue
            if self.transform is not None:
                image = self.transform(image)
            return image, self.labels[item]
        raise BadImageError(
            f"none of the {count} images of this split can be read (e.g. '{self.paths[0]}'): "
            "fix or replace the files"
        )


def bad_image_message(path: Path, err: BaseException) -> str:
    """One line: the unreadable file, why, and what to do."""
    reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return (
        f"image '{path}' cannot be read ({type(err).__name__}: {reason}): fix or remove it, or "
        "set data.on_bad_file=skip to go on without it (data.scan=full finds such files before "
        "training starts)"
    )
