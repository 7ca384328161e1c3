"""Input path: the usual 3-channel float pipeline against graytransfer's uint8 1-channel path.

    python -m bench.input_path                      # Lite0, digits, CPU
    python -m bench.input_path --device cuda --sizes 224 model=b0 \
        model.pretrained=false

`float3`: what people write (torchvision-dataset style): each image becomes a PIL image, then
`Grayscale(3)`, `ToTensor`, `Normalize(mean, std)` in the loader; float32 (N, 3, H, W) goes to
the device and into the untouched 3-channel backbone (`repeat` done on the CPU).
`uint8-<strategy>`: graytransfer's path: the data module's uint8 (N, 1, H, W) goes to the
device, the strategy's input module scales and normalises it there (`repeat` broadcasts to 3
channels; `sum`/`fold` feed a 1-channel stem). Same source images (the digits data module at
the given size), same loop, batch size and optimiser; only the input path differs.
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from hydra.utils import instantiate
from omegaconf import DictConfig
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from bench.common import (
    add_run_arguments,
    compose,
    fast,
    machine_info,
    median,
    now,
    report,
    resolve_device,
    run_cli,
    set_threads,
    trainer_override,
)
from bench.loop import loop_settings, seed_all, train_bare
from graytransfer.config import conf_dir
from graytransfer.errors import UserError
from graytransfer.run import build_data_and_model

FLOAT3 = "float3"
COLUMNS = (
    "size",
    "path",
    "bytes_per_image",
    "byte_ratio",
    "loader_img_s",
    "train_img_s",
    "train_ratio",
    "fast_train_ratio",
)


class PilFloat3(Dataset):
    """The same uint8 images served as torchvision datasets serve them: a PIL image per item
    through `Grayscale(3)`, `ToTensor`, `Normalize(mean, std)`."""

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
    ) -> None:
        from torchvision import transforms as T

        self.images = images
        self.labels = labels
        self.transform = T.Compose(
            [T.Grayscale(num_output_channels=3), T.ToTensor(), T.Normalize(mean, std)]
        )

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = Image.fromarray(self.images[index, 0].numpy(), mode="L")
        return self.transform(image), self.labels[index]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.input_path", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--device", default="cpu", help="cpu | cuda | auto (default cpu)")
    parser.add_argument("--sizes", default="32,64", help="image sizes (square), comma-separated")
    parser.add_argument(
        "--strategies", default="repeat,sum,fold", help="uint8 paths; missing ones are skipped"
    )
    parser.add_argument("--epochs", type=int, default=3, help="epochs per run (first is warm-up)")
    parser.add_argument("--reps", type=int, default=2, help="interleaved repetitions")
    parser.add_argument("--limit-batches", type=int, default=None, help="batches per epoch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (both paths)")
    add_run_arguments(parser, "input_path")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(s) for s in args.sizes.split(",") if s]
    except ValueError:
        raise UserError(f"--sizes: '{args.sizes}' is not a list of integers") from None
    args.strategies = [s for s in args.strategies.split(",") if s]
    if args.epochs < 2 or args.reps < 1:
        raise UserError("--epochs must be at least 2 (the first is warm-up), --reps at least 1")
    return args


def available(strategies: Sequence[str]) -> tuple[list[str], list[str]]:
    """The strategies that have a `conf/adapt/NAME.yaml`, and those that do not."""
    conf = conf_dir()
    have = [s for s in strategies if (conf / "adapt" / f"{s}.yaml").is_file()]
    return have, [s for s in strategies if s not in have]


def size_config(
    args: argparse.Namespace, device: str, size: int, tmp: Path, extra: Sequence[str] = ()
) -> DictConfig:
    return compose(
        [
            trainer_override(device),
            f"data.image_size={size}",
            f"data.num_workers={args.workers}",
            *args.overrides,
            *extra,
        ],
        tmp,
    )


def make_loader(dataset: Dataset, cfg: DictConfig, workers: int, device: str) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=int(cfg.data.batch_size),
        shuffle=True,
        num_workers=workers,
        pin_memory=device == "cuda",
        persistent_workers=workers > 0,
    )


def loader_rate(loader: DataLoader, limit: int | None) -> tuple[float, int]:
    """Images per second the loader yields over one pass (no model), and bytes per image.
    With workers, an untimed pass first starts them (they persist)."""
    if loader.num_workers > 0:
        for index, _ in enumerate(loader):
            if limit is not None and index >= limit:
                break
    images = 0
    nbytes = 0
    start = now()
    for index, (batch, _) in enumerate(loader):
        if limit is not None and index >= limit:
            break
        images += batch.shape[0]
        nbytes = batch.element_size() * batch[0].numel()
    return images / (now() - start), nbytes


def run_path(
    args: argparse.Namespace, device: str, size: int, path: str, tmp: Path
) -> dict[str, Any]:
    """Build the data and model for one path, time the loader alone, then train."""
    strategy = "repeat" if path == FLOAT3 else path.removeprefix("uint8-")
    cfg = size_config(args, device, size, tmp, [f"adapt={strategy}"])
    seed_all(cfg.seed)
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    train_set = data.train_set
    if path == FLOAT3:
        # `repeat` leaves the backbone untouched; the loader now does its job on the CPU
        model.input_adapter = torch.nn.Identity()
        mean, std = model.data_config.mean, model.data_config.std
        dataset = PilFloat3(train_set.images, train_set.labels, mean, std)
    else:
        dataset = train_set
    model = model.to(device)
    loader = make_loader(dataset, cfg, args.workers, device)
    loader_img_s, bytes_per_image = loader_rate(loader, args.limit_batches)
    per_epoch = min(len(loader), args.limit_batches or len(loader))
    optimizer, scheduler = model.build_optimizer(per_epoch * args.epochs)
    recorder = train_bare(
        model,
        loader,
        optimizer,
        scheduler,
        epochs=args.epochs,
        device=device,
        **loop_settings(cfg, model),
        limit_batches=args.limit_batches,
    )
    images_per_epoch = min(len(dataset), per_epoch * int(cfg.data.batch_size))
    walls = recorder.epoch_walls()
    return {
        "loader_img_s": loader_img_s,
        "bytes_per_image": bytes_per_image,
        "train_img_s": [images_per_epoch / w for w in walls],
        "cycles_s": recorder.cycles(1),
        "model": str(cfg.model.name),
        "batch_size": int(cfg.data.batch_size),
        "precision": str(cfg.trainer.precision),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    device = resolve_device(args.device)
    set_threads(args.threads)
    strategies, missing = available(args.strategies)
    paths = [FLOAT3, *(f"uint8-{s}" for s in strategies)]
    rows: list[dict[str, Any]] = []
    settings: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gt-bench-") as tmp:
        for size in args.sizes:
            runs: dict[str, list[dict[str, Any]]] = {p: [] for p in paths}
            for rep in range(args.reps):
                shift = rep % len(paths)
                for path in paths[shift:] + paths[:shift]:
                    print(f"[input_path] {size}px repetition {rep + 1}/{args.reps}: {path}")
                    runs[path].append(run_path(args, device, size, path, Path(tmp) / "run"))
            rows += size_rows(size, runs)
            settings = {k: runs[FLOAT3][0][k] for k in ("model", "batch_size", "precision")}
    settings.update(
        {
            "overrides": args.overrides,
            "sizes": args.sizes,
            "epochs": args.epochs,
            "reps": args.reps,
            "limit_batches": args.limit_batches,
            "workers": args.workers,
            "skipped_strategies": missing,
        }
    )
    ours = [r for r in rows if r["path"] != FLOAT3]
    summary = {
        "goal": "train_ratio >= 1.0 on CPU; byte_ratio 12",
        "min_train_ratio": min((r["train_ratio"] for r in ours), default=None),
        "max_byte_ratio": max((r["byte_ratio"] for r in ours), default=None),
    }
    notes = [
        "train_img_s: images per epoch / epoch wall time (loader, transfer, forward, backward, "
        "optimiser), median over the epochs after the first of every repetition",
        "loader_img_s: one pass of the DataLoader alone; ratios are against float3 at that size",
        "fast_train_ratio: 10th percentile of float3's batch cycles (batch start to next, the "
        "fetch included) / that of the path: the uncontended speed on a shared machine",
    ]
    if missing:
        notes.append(f"skipped (no conf/adapt/NAME.yaml): {', '.join(missing)}")
    return report(
        "input_path", machine_info(device), settings, rows, COLUMNS, args.out, summary, notes
    )


def size_rows(size: int, runs: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    base_rate = median([v for r in runs[FLOAT3] for v in r["train_img_s"]])
    base_fast = fast([c for r in runs[FLOAT3] for c in r["cycles_s"]])
    base_bytes = runs[FLOAT3][0]["bytes_per_image"]
    rows = []
    for path, results in runs.items():
        rate = median([v for r in results for v in r["train_img_s"]])
        cycles = [c for r in results for c in r["cycles_s"]]
        nbytes = results[0]["bytes_per_image"]
        rows.append(
            {
                "size": size,
                "path": path,
                "bytes_per_image": nbytes,
                "byte_ratio": base_bytes / nbytes,
                "loader_img_s": median([r["loader_img_s"] for r in results]),
                "train_img_s": rate,
                "train_ratio": rate / base_rate if rate and base_rate else None,
                "train_img_s_all": [v for r in results for v in r["train_img_s"]],
                "fast_train_ratio": (
                    base_fast / fast_cycle if (fast_cycle := fast(cycles)) and base_fast else None
                ),
                "cycles_s": cycles,
            }
        )
    return rows


if __name__ == "__main__":
    run_cli(main)
