"""The classification head: pooling, dropout, an optional hidden layer, a linear classifier."""

from __future__ import annotations

import torch
from timm.layers import SelectAdaptivePool2d
from torch import nn

from graytransfer.errors import UserError

POOLS = ("avg", "max", "avgmax")


class ClassifierHead(nn.Module):
    """Features of a timm backbone -> class logits.

    4-D feature maps (CNNs) are pooled over space and 3-D token sequences (ViTs) over tokens,
    both with `pool`.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        pool: str = "avg",
        drop_rate: float = 0.0,
        hidden_dim: int | None = None,
    ) -> None:
        super().__init__()
        if pool not in POOLS:
            raise UserError(f"head.pool: '{pool}' is not one of {', '.join(POOLS)}")
        if num_classes < 1:  # 1: a binary task's single logit
            raise UserError(f"the head has {num_classes} outputs; it needs at least 1")
        self.pool_type = pool
        self.pool = SelectAdaptivePool2d(pool_type=pool, flatten=True)
        layers: list[nn.Module] = [nn.Dropout(drop_rate)]
        width = num_features
        if hidden_dim:
            layers += [nn.Linear(width, hidden_dim), nn.GELU(), nn.Dropout(drop_rate)]
            width = hidden_dim
        layers.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*layers)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.ndim == 4:
            features = self.pool(features)
        elif features.ndim == 3:
            features = _pool_tokens(features, self.pool_type)
        elif features.ndim != 2:
            raise ValueError(f"cannot pool features of shape {tuple(features.shape)}")
        return self.classifier(features)


def _pool_tokens(tokens: torch.Tensor, pool: str) -> torch.Tensor:
    if pool == "avg":
        return tokens.mean(dim=1)
    if pool == "max":
        return tokens.amax(dim=1)
    return 0.5 * (tokens.mean(dim=1) + tokens.amax(dim=1))
