"""Helpers for the adaptation tests: small real timm models with non-trivial BatchNorm stats."""

from __future__ import annotations

import copy

import timm
import torch
from torch import nn

from graytransfer.adapt.base import BackboneDataConfig, Strategy
from graytransfer.model.backbone import Backbone

#: "equals" in the issue: max abs difference on full logits in float64
TOL = 1e-8


def randomise_batchnorm(net: nn.Module, seed: int = 0) -> nn.Module:
    """Random running stats and affine parameters, so no BatchNorm is the identity."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                n = m.num_features
                m.running_mean.copy_(0.5 * torch.randn(n, generator=gen))
                m.running_var.copy_(0.5 + 1.5 * torch.rand(n, generator=gen))
                m.weight.copy_(0.5 + torch.rand(n, generator=gen))
                m.bias.copy_(0.5 * torch.randn(n, generator=gen))
    return net


def classifier_net(name: str, num_classes: int = 7, **kwargs) -> nn.Module:
    """A real timm model with its classifier (full logits), random BN stats, float32, eval."""
    torch.manual_seed(0)
    net = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
    return randomise_batchnorm(net).eval()


def data_config(net: nn.Module) -> BackboneDataConfig:
    return Backbone(net.pretrained_cfg["architecture"], pretrained=False).data_config(net)


class Adapted(nn.Module):
    """input module + backbone, the way GrayscaleClassifier chains them (with full logits)."""

    def __init__(self, net: nn.Module, strategy: Strategy, dtype=torch.float64) -> None:
        super().__init__()
        self.net = copy.deepcopy(net).to(dtype)
        self.input = strategy.adapt(self.net, data_config(self.net)).to(dtype)
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.net(self.input(x))


def gray_batch(height: int, width: int, n: int = 2, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, height, width), dtype=torch.uint8, generator=gen)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a - b).abs().max().item()
