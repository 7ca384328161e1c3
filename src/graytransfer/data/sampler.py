"""Evaluation under DDP scores every image exactly once.

Lightning gives each rank a `DistributedSampler`, which pads the last round by repeating images so
all ranks get the same count; the synced validation and test metrics then count those images
twice. For evaluation the data modules use `eval_sampler` instead: disjoint, unpadded shares (ranks
may differ by one image, which is safe because evaluation syncs no gradients). Lightning leaves a
loader that already has a `DistributedSampler` (subclass) alone.
"""

from __future__ import annotations

import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import Dataset, Sampler


def eval_sampler(dataset: Dataset) -> Sampler | None:
    """An unpadded per-rank sampler when a process group of 2+ ranks is running, else None."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    return UnrepeatedDistributedSampler(dataset, shuffle=False)
