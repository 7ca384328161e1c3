"""Grayscale image operations used by the data modules (no colour, no float output): uint8, and
uint16 / int16 at full depth."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: images resized per chunk, so that the float copy stays small (4096 x 224 x 224 x 4 B = 0.8 GB)
CHUNK = 4096


def resize_gray(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of integer (N, 1, h, w) to (N, 1, H, W), antialiased when shrinking, at the
    images' own depth: through float32 (exact for 16-bit values), rounded and clamped back."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    info = torch.iinfo(images.dtype)
    shrinking = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    out = torch.empty((images.shape[0], images.shape[1], *size), dtype=images.dtype)
    for start in range(0, images.shape[0], CHUNK):
        part = images[start : start + CHUNK].float()
        resized = F.interpolate(
            part, size=size, mode="bilinear", align_corners=False, antialias=shrinking
        )
        out[start : start + CHUNK] = resized.round_().clamp_(info.min, info.max).to(images.dtype)
    return out


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """`resize_gray` for uint8 (N, 1, h, w) images (the in-memory sets' path)."""
    return resize_gray(images, size)
