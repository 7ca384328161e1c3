"""uint8 grayscale image operations used by the data modules (no colour, no float output)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: images resized per chunk, so that the float copy stays small (4096 x 224 x 224 x 4 B = 0.8 GB)
CHUNK = 4096


def resize_uint8(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of uint8 (N, 1, h, w) to (N, 1, H, W), antialiased when shrinking."""
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    shrinking = size[0] < images.shape[-2] or size[1] < images.shape[-1]
    out = torch.empty((images.shape[0], images.shape[1], *size), dtype=torch.uint8)
    for start in range(0, images.shape[0], CHUNK):
        part = images[start : start + CHUNK].float()
        resized = F.interpolate(
            part, size=size, mode="bilinear", align_corners=False, antialias=shrinking
        )
        out[start : start + CHUNK] = resized.round_().clamp_(0, 255).to(torch.uint8)
    return out
