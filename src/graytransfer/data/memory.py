"""A dataset of uint8 images held in memory (decoded and resized once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch.utils.data import Dataset

from graytransfer.data.transforms import resize_uint8


class InMemoryImages(Dataset):
    """uint8 (N, 1, H, W) images and int64 labels; item i is `(image (1, H, W), label)`.

    `size` (H, W), when given, resizes each item as it is read (for sets too large to hold at
    the target size); `transform` (augmentation on uint8 tensors) is applied after; `ids` names
    the items in split files (source indices or paths).
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        ids: Sequence[str] | None = None,
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] != 1:
            raise ValueError(
                f"expected uint8 (N, 1, H, W), got {images.dtype} {tuple(images.shape)}"
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
            image = resize_uint8(image.unsqueeze(0), self.size)[0]
        if self.transform is not None:
            image = self.transform(image)
        return image, self.labels[index]
