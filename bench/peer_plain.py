"""Runner (b) of `bench.peer`: the loop a user writes by hand, with timm and PyTorch only (no
Lightning, no graytransfer code). It reads the harness' split (split.npz) and the timm-format
ImageNet weights, builds the model as timm documents (`create_model(..., in_chans=1,
pretrained_cfg_overlay=dict(file=...))`, which sums the stem's RGB kernels: adapt_input_conv),
trains with AdamW and a warm-up + cosine schedule per step (the formula of
graytransfer.model.schedule.WarmupCosine, written out), validates once per epoch and tests the
final model. Writes a JSON record to --out.

    python -m bench.peer_plain --split WORK/split.npz --weights WORK/lite0_in1k.pth --out R.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import timm
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset


def loader(x: np.ndarray, y: np.ndarray, batch: int, shuffle: bool, seed: int) -> DataLoader:
    images = torch.from_numpy(x).unsqueeze(1)  # uint8 (N, 1, H, W)
    labels = torch.from_numpy(y).long()
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        TensorDataset(images, labels), batch_size=batch, shuffle=shuffle, generator=generator
    )


def normalise(images: torch.Tensor) -> torch.Tensor:
    """uint8 -> float, (x/255 - 0.5) / 0.5: Lite0's mean and std (0.5 on every channel)."""
    return (images.float() / 255.0 - 0.5) / 0.5


def warmup_cosine(total: int, warmup_fraction: float = 0.05, min_ratio: float = 0.01):
    """The lr factor per optimiser step: linear warm-up, then cosine to `min_ratio`."""
    warmup = int(round(warmup_fraction * total))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = min((step - warmup) / max(total - warmup, 1), 1.0)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor


def autocast(device: str, precision: str):
    """bf16 autocast for `bf16-mixed` (as Lightning applies it), else nothing."""
    return torch.autocast(device, torch.bfloat16, enabled=precision == "bf16-mixed")


@torch.no_grad()
def accuracy(model: torch.nn.Module, batches: DataLoader, device: str = "cpu",
             precision: str = "32-true") -> float:  # fmt: skip
    model.eval()
    correct = seen = 0
    for images, labels in batches:
        images, labels = images.to(device), labels.to(device)
        with autocast(device, precision):
            correct += (model(normalise(images)).argmax(1) == labels).sum().item()
        seen += len(labels)
    model.train()
    return correct / max(seen, 1)


def run(args: argparse.Namespace) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    with np.load(args.split) as data:
        split = {key: data[key] for key in data.files}
    classes = len(split["classes"])
    train = loader(split["train_x"], split["train_y"], args.batch_size, True, args.seed)
    val = loader(split["val_x"], split["val_y"], args.batch_size, False, args.seed)
    test = loader(split["test_x"], split["test_y"], args.batch_size, False, args.seed)
    model = timm.create_model(
        args.model,
        pretrained=True,
        pretrained_cfg_overlay={"file": str(args.weights)},
        in_chans=1,
        num_classes=classes,
        drop_rate=args.drop,
    ).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    total = args.epochs * len(train)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(total))
    started = time.perf_counter()
    val_acc = []
    model.train()
    for _ in range(args.epochs):
        for images, labels in train:
            images, labels = images.to(args.device), labels.to(args.device)
            optimizer.zero_grad(set_to_none=True)
            with autocast(args.device, args.precision):
                loss = F.cross_entropy(model(normalise(images)), labels)
            loss.backward()
            optimizer.step()
            scheduler.step()
        val_acc.append(accuracy(model, val, args.device, args.precision))
    train_s = time.perf_counter() - started
    tested = time.perf_counter()
    test_acc = accuracy(model, test, args.device, args.precision)
    return {
        "test_acc": test_acc,
        "val_acc": val_acc,
        "train_s": train_s,
        "test_s": time.perf_counter() - tested,
        "steps": total,
        "split_counts": {s: int(len(split[f"{s}_y"])) for s in ("train", "val", "test")},
        "torch_threads": torch.get_num_threads(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=Path, required=True)
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", default="tf_efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--drop", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--precision", default="32-true", choices=("32-true", "bf16-mixed"))
    args = parser.parse_args(argv)
    result = run(args)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
