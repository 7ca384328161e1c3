"""`TestPredictions`: the callback that keeps every test image's probabilities and labels during
`Trainer.test`, in the data's test order.

The classifier's `test_step` returns the batch's probabilities; this callback keeps them with
the labels and the dataset index of each image (from the test loader's sampler). Under DDP each
rank scores its own share (`graytransfer.data.sampler.eval_sampler`); at the end of the test the
shares are gathered to every rank and put back in dataset order, so rank 0 holds the whole split.
The run writes `predictions.csv` from rank 0 only.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
import torch.distributed as dist

from graytransfer.evaluation.predictions import Predictions, groups_of


class TestPredictions(L.Callback):
    """Keeps the test split's probabilities (`probs`), labels and dataset `indices`."""

    __test__ = False  # not a pytest class

    def __init__(self) -> None:
        self.probs: np.ndarray | None = None
        self.labels: np.ndarray | None = None
        self.indices: np.ndarray | None = None
        self.thresholds: np.ndarray | None = None
        self._order: list[int] = []
        self._kept: list[tuple[torch.Tensor, torch.Tensor]] = []

    @staticmethod
    def of(trainer: L.Trainer) -> TestPredictions | None:
        """The trainer's `TestPredictions` callback, if it has one."""
        found = [c for c in trainer.callbacks if isinstance(c, TestPredictions)]
        return found[0] if found else None

    def on_test_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        loader = trainer.test_dataloaders
        loader = loader[0] if isinstance(loader, (list, tuple)) else loader
        sampler = getattr(loader, "sampler", None)
        self._order = list(sampler) if sampler is not None else list(range(len(loader.dataset)))
        self._kept = []

    def on_test_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if isinstance(outputs, torch.Tensor):  # kept on the device: one copy to the CPU at the end
            self._kept.append((outputs.detach(), batch[1].detach()))

    def on_test_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not self._kept:
            return
        probs = torch.cat([p for p, _ in self._kept]).float().cpu().numpy()
        labels = torch.cat([y for _, y in self._kept]).cpu().numpy()
        indices = np.asarray(self._order[: len(probs)], dtype=np.int64)
        share = (indices, probs, labels)
        if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            shares: list[Any] = [None] * dist.get_world_size()
            dist.all_gather_object(shares, share)
            indices, probs, labels = (np.concatenate([s[i] for s in shares]) for i in range(3))
        order = np.argsort(indices, kind="stable")
        self.indices, self.probs, self.labels = indices[order], probs[order], labels[order]
        thresholds = getattr(pl_module, "thresholds", None)
        self.thresholds = None if thresholds is None else thresholds.detach().cpu().numpy()
        self._kept = []

    def predictions(self, data: Any, task: str, names: list[str], split: str = "test"):
        """The kept test predictions as `Predictions`, the ids (and groups) taken from the data
        module's test split; None when nothing was tested."""
        if self.probs is None:
            return None
        ids = [str(data.test_set.ids[i]) for i in self.indices]
        return Predictions(
            task=task,
            names=list(names),
            class_names=list(data.class_names),
            probs=self.probs,
            labels=self.labels,
            ids=ids,
            thresholds=self.thresholds,
            groups=groups_of(ids, getattr(data, "groups", None)),
            split=split,
        )
