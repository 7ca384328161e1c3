"""ClassifierHead: pooling choices, dropout, the optional hidden layer, bad values named."""

from __future__ import annotations

import pytest
import torch

from graytransfer.errors import UserError
from graytransfer.model.head import ClassifierHead


def linear_identity(head: ClassifierHead) -> ClassifierHead:
    """Make the classifier read the pooled features out unchanged (4 features -> 4 logits)."""
    fc = head.classifier[-1]
    with torch.no_grad():
        fc.weight.copy_(torch.eye(4))
        fc.bias.zero_()
    return head.eval()


FEATURES = torch.arange(2 * 4 * 3 * 3, dtype=torch.float32).reshape(2, 4, 3, 3)


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        ("avg", FEATURES.mean(dim=(2, 3))),
        ("max", FEATURES.amax(dim=(2, 3))),
        ("avgmax", 0.5 * (FEATURES.mean(dim=(2, 3)) + FEATURES.amax(dim=(2, 3)))),
    ],
)
def test_pooling_of_feature_maps(pool: str, expected: torch.Tensor) -> None:
    head = linear_identity(ClassifierHead(num_features=4, num_classes=4, pool=pool))
    torch.testing.assert_close(head(FEATURES), expected)


@pytest.mark.parametrize("pool", ["avg", "max", "avgmax"])
def test_token_sequences_pool_over_tokens(pool: str) -> None:
    tokens = FEATURES.flatten(2).transpose(1, 2)  # (N, 9 tokens, 4)
    maps = linear_identity(ClassifierHead(num_features=4, num_classes=4, pool=pool))
    torch.testing.assert_close(maps(tokens), maps(FEATURES))


def test_hidden_layer_and_dropout() -> None:
    head = ClassifierHead(num_features=4, num_classes=3, drop_rate=0.5, hidden_dim=16)
    linears = [m for m in head.classifier if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(4, 16), (16, 3)]
    assert [m.p for m in head.classifier if isinstance(m, torch.nn.Dropout)] == [0.5, 0.5]
    head.train()
    torch.manual_seed(0)
    x = torch.ones(64, 4, 2, 2)
    assert not torch.equal(head(x)[0], head(x)[1])  # dropout active in training
    head.eval()
    out = head(x)
    assert out.shape == (64, 3) and torch.equal(out[0], out[1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"pool": "mean"}, "head.pool: 'mean'"), ({"num_classes": 0}, "at least 1")],
)
def test_bad_values_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        ClassifierHead(**{"num_features": 4, "num_classes": 3, **kwargs})
