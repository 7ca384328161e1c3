"""What an adaptation strategy costs, measured on a run's own model at its own image size.

Same definitions as `python -m graytransfer.inspect` (its `count_macs`): `extra_params` are the
input module's parameters (what a strategy adds in front of the backbone), `stem_params` and
`stem_macs` those of the backbone's first conv (a 1-channel stem has a third of both),
`input_macs` the input module's own conv/linear MACs; MACs are per image.

`python -m graytransfer.cost DIR` recomputes the `cost` entry of every run's `metrics.json` under
DIR from its checkpoint (for runs recorded before these definitions).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn


def input_cost(model: nn.Module, image_size: Sequence[int]) -> dict[str, Any]:
    """`params`, `extra_params`, `stem_params`, `stem_macs`, `input_macs` of a GrayscaleClassifier
    for one uint8 image of `image_size` (H, W)."""
    from graytransfer.adapt.stem import find_stem
    from graytransfer.inspect import count_macs

    stem = find_stem(model.backbone, model.data_config.first_conv)
    device = next(model.parameters()).device
    image = torch.zeros(1, 1, *image_size, dtype=torch.uint8, device=device)
    was_training = model.training
    model.eval()
    try:
        macs = count_macs(
            {"input": model.input_adapter, "stem": stem},
            lambda: stem(model.input_adapter(image)),
        )
    finally:
        model.train(was_training)
    return {
        "params": sum(p.numel() for p in model.parameters()),
        "extra_params": sum(p.numel() for p in model.input_adapter.parameters()),
        "stem_params": sum(p.numel() for p in stem.parameters()),
        "stem_macs": int(macs["stem"]),
        "input_macs": int(macs["input"]),
    }


def refresh_costs(root: Path) -> int:
    """Rewrite the `cost` of each finished run under `root` from its checkpoint; returns
    how many were rewritten."""
    from graytransfer.restore import load_trained
    from graytransfer.runinfo import write_json_atomic

    done = 0
    for path in sorted(root.rglob("metrics.json")):
        record = json.loads(path.read_text())
        ckpt = record.get("best_checkpoint") or str(path.parent / "checkpoints" / "last.ckpt")
        if "wandb" in path.parts or record.get("status", "ok") != "ok" or not Path(ckpt).exists():
            continue
        trained = load_trained(ckpt)
        record["cost"] = input_cost(trained.model, trained.image_size)
        write_json_atomic(path, record)
        done += 1
    return done


if __name__ == "__main__":
    for folder in sys.argv[1:] or ["."]:
        print(f"{folder}: recomputed the cost of {refresh_costs(Path(folder))} runs")
