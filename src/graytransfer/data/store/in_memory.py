"""A dataset of gray images held in memory (decoded and resized once): uint8, or uint16 / int16
at full depth."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from graytransfer.data.resize import resize_gray

#: the dtypes a gray image is held in
GRAY_DTYPES = (torch.uint8, torch.uint16, torch.int16)


class InMemoryImages(Dataset):
    """Integer (N, 1, H, W) images (uint8, uint16 or int16) and int64 labels; item i is
    `(image (1, H, W), label)`.

    `size` (H, W), when given, resizes each item as it is read (for sets too large to hold at
    the target size); `transform` (augmentation on the integer tensors) is applied after; `ids`
    names the items in split files (source indices or paths).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        ids: Sequence[str] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        if images.dtype not in GRAY_DTYPES or images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(
                f"expected uint8/uint16/int16 (N, 1, H, W), got {images.dtype} "
                f"{tuple(images.shape)}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        self.images = images.contiguous()
        self.labels = torch.as_tensor(labels).long()
        self.ids = list(ids) if ids is not None else [str(i) for i in range(len(self.labels))]
        self.transform = transform
        self.size = None if size is None or tuple(size) == tuple(images.shape[-2:]) else size

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[index]
        if self.size is not None:
            image = resize_gray(image.unsqueeze(0), self.size)[0]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]
