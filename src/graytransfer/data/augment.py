"""Grayscale augmentation presets on (1, H, W) integer tensors: geometry and intensity, no colour.

`none`  : nothing.
`light` : random resized crop (scale 0.85-1), rotation up to 5 degrees and 5 % translation,
          brightness and contrast +-10 %.
`strong`: random resized crop (scale 0.6-1), rotation up to 15 degrees, 10 % translation, scale
          0.9-1.1, shear 5 degrees, brightness and contrast +-30 %, gamma 0.7-1.5, Gaussian blur
          (p=0.3) and Gaussian noise up to 8 grey levels (p=0.3).
Flips are separate switches, off by default: digits, letters and X-rays have a side.

At full depth (uint16 / int16, `geometric_only=True`) only the geometric part of a preset runs
(crop, affine, flips, at the stored depth: torchvision resamples integer tensors through float
and rounds back): brightness, contrast, gamma, blur and noise are defined on 0..255, and the
model's intensity mapping decides what a raw value means. Space the affine uncovers is filled
with `fill` (the data's minimum, e.g. air in CT) instead of 0.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms import v2

from graytransfer.errors import UserError

PRESETS = ("none", "light", "strong")


class RandomGamma(nn.Module):
    """`255 * (x / 255) ** gamma`, gamma drawn log-uniformly from `gamma` (uint8 in and out)."""

    def __init__(self, gamma: tuple[float, float]) -> None:
        super().__init__()
        self.log_low, self.log_high = (torch.tensor(g).log().item() for g in gamma)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        gamma = torch.empty(1).uniform_(self.log_low, self.log_high).exp().item()
        return v2.functional.adjust_gamma(image, gamma)


class RandomNoise(nn.Module):
    """Adds Gaussian noise of a random sigma in [0, `sigma`] grey levels with probability `p`."""

    def __init__(self, sigma: float, p: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.p = p

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if torch.rand(1).item() >= self.p:
            return image
        sigma = torch.rand(1).item() * self.sigma
        noisy = image.float() + torch.randn(image.shape) * sigma
        return noisy.round_().clamp_(0, 255).to(torch.uint8)


def build_augment(
    preset: str,
    size: tuple[int, int],
    hflip: bool = False,
    vflip: bool = False,
    geometric_only: bool = False,
    fill: float = 0,
) -> nn.Module | None:
    """The training-time augmentation for `preset` at output `size` (H, W); None for nothing.
    `geometric_only`: the full-depth variant (see the module), affine gaps filled with `fill`."""
    if preset not in PRESETS:
        raise UserError(f"data.augment: '{preset}' is not one of {list(PRESETS)}")
    ops: list[nn.Module] = []
    if geometric_only and preset != "none":
        strong = preset == "strong"
        ops += [
            v2.RandomResizedCrop(
                size, scale=(0.6 if strong else 0.85, 1.0),
                ratio=(0.8, 1.25) if strong else (0.9, 1.11), antialias=True,
            ),
            v2.RandomAffine(
                degrees=15 if strong else 5, translate=(0.1, 0.1) if strong else (0.05, 0.05),
                scale=(0.9, 1.1) if strong else None, shear=5 if strong else None, fill=fill,
            ),
        ]  # fmt: skip
    elif preset == "light":
        ops += [
            v2.RandomResizedCrop(size, scale=(0.85, 1.0), ratio=(0.9, 1.11), antialias=True),
            v2.RandomAffine(degrees=5, translate=(0.05, 0.05)),
            v2.ColorJitter(brightness=0.1, contrast=0.1),
        ]
    elif preset == "strong":
        ops += [
            v2.RandomResizedCrop(size, scale=(0.6, 1.0), ratio=(0.8, 1.25), antialias=True),
            v2.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
            RandomGamma((0.7, 1.5)),
            v2.RandomApply([v2.GaussianBlur(3, sigma=(0.1, 1.0))], p=0.3),
            RandomNoise(sigma=8.0, p=0.3),
        ]
    if hflip:
        ops.append(v2.RandomHorizontalFlip())
    if vflip:
        ops.append(v2.RandomVerticalFlip())
    return v2.Compose(ops) if ops else None
