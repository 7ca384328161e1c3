"""Fast twin of the slow DDP run (tests/run/test_ddp.py, predictions.csv too): how the test
split is shared between 2 ranks and put back together, without starting processes. The process
group's queries (initialised, world size, rank, all_gather_object) are answered by the test;
everything else is real: the digits data module's test loader, Lightning's sampler and the
`TestPredictions` callback. With an odd test split (99 images), each image is scored by exactly
one rank (50 + 49, no padding repeats) and the gathered predictions come back in test order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.distributed as dist

from graytransfer.data import DigitsDataModule
from graytransfer.evaluation.collect import TestPredictions

WORLD = 2


def as_rank(monkeypatch: pytest.MonkeyPatch, rank: int | None, gathered=None) -> None:
    """Answer torch.distributed's queries as rank `rank` of `WORLD` (None: no process group);
    `all_gather_object` hands out `gathered`, the ranks' shares."""
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: rank is not None)
    monkeypatch.setattr(dist, "get_world_size", lambda group=None: WORLD)
    monkeypatch.setattr(dist, "get_rank", lambda group=None: rank)

    def all_gather_object(out: list, obj, group=None) -> None:
        out[:] = gathered

    monkeypatch.setattr(dist, "all_gather_object", all_gather_object)


def scored(loader, gathered=None) -> TestPredictions:
    """`TestPredictions` fed the loader's batches; each image's "probability" is its pixel sum,
    so a row can be matched to its image."""
    callback = TestPredictions()
    trainer = SimpleNamespace(test_dataloaders=loader)
    callback.on_test_epoch_start(trainer, None)
    for index, (images, labels) in enumerate(loader):
        probs = images.flatten(1).double().sum(1, keepdim=True)
        callback.on_test_batch_end(trainer, None, probs, (images, labels), index)
    callback.on_test_epoch_end(trainer, None)
    return callback


def test_two_ranks_score_every_test_image_once_and_gather_in_test_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = DigitsDataModule(image_size=8, batch_size=16, test_split=0.055, num_workers=0)
    data.setup("test")
    total = len(data.test_set)
    assert total % 2 == 1
    shares = []
    for rank in range(WORLD):
        as_rank(monkeypatch, rank)
        loader = data.test_dataloader()
        monkeypatch.setattr(dist, "is_initialized", lambda: False)  # each rank's own share
        kept = scored(loader)
        shares.append((kept.indices, kept.probs, kept.labels))
    counts = sorted(len(indices) for indices, _, _ in shares)
    assert counts == [total // 2, total // 2 + 1]  # unpadded: no image scored twice
    assert sorted(np.concatenate([s[0] for s in shares]).tolist()) == list(range(total))

    as_rank(monkeypatch, 0, gathered=shares)
    whole = scored(data.test_dataloader(), gathered=shares)
    assert whole.indices.tolist() == list(range(total))  # back in the test split's order
    images = torch.stack([data.test_set[i][0] for i in range(total)])
    expected = images.flatten(1).double().sum(1).numpy()
    assert np.array_equal(whole.probs[:, 0], expected)
    assert whole.labels.tolist() == [int(data.test_set[i][1]) for i in range(total)]
