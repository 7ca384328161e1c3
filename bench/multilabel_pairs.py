"""A real multi-label set built offline: two real images side by side, labels = the classes
present (what `task=multilabel` is measured on; docs/tasks.md).

python -m bench.multilabel_pairs --out /tmp/pairs --source fashion_mnist --count 4000
python train.py data=csv task=multilabel data.csv=/tmp/pairs/pairs.csv \\
    data.label_column='Finding Labels' data.label_separator='|' data.group_column=patient

Each image is two items of the source (scikit-learn's digits, or Fashion-MNIST from
/usr/share/datasets/fashion-mnist) placed side by side, H x 2H pixels, 8-bit PNG. Its labels are
the classes of the two items (one label when both are of the same class), written as a
ChestX-ray14-style `|`-separated column (`--layout pipe`) or CheXpert-style one 1/0 column per
class (`--layout columns`); a `patient` column groups every four consecutive images, for
`data.group_column`. The items are drawn with a fixed seed, so the set is the same every time.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bench.common import run_cli
from graytransfer.data.decode.idx import read_idx
from graytransfer.data.sources.mnist import DEBIAN_FASHION_MNIST, FashionMnistDataModule
from graytransfer.errors import UserError

SOURCES = ("digits", "fashion_mnist")


def load_source(source: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """uint8 images (N, H, W), int labels (N,) and class names of `source`."""
    if source == "digits":
        from sklearn.datasets import load_digits

        digits = load_digits()
        images = np.rint(digits.images * (255 / 16)).astype(np.uint8)
        return images, digits.target.astype(int), [str(c) for c in range(10)]
    if source == "fashion_mnist":
        images_file = DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz"
        if not images_file.is_file():
            raise UserError(
                f"--source fashion_mnist: {images_file} is missing; apt-get install "
                "dataset-fashion-mnist, or use --source digits"
            )
        labels = read_idx(DEBIAN_FASHION_MNIST / "train-labels-idx1-ubyte.gz").astype(int)
        return read_idx(images_file), labels, list(FashionMnistDataModule.classes)
    raise UserError(f"--source: '{source}' is not one of {list(SOURCES)}")


def write_pairs(
    out: Path, source: str = "digits", count: int = 200, seed: int = 0, layout: str = "pipe"
) -> Path:
    """Write `count` pair images and `pairs.csv` (path, patient, labels) under `out`; returns
    the CSV's path."""
    if layout not in ("pipe", "columns"):
        raise UserError(f"--layout: '{layout}' is not pipe or columns")
    images, labels, classes = load_source(source)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(images), size=(count, 2))
    (out / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (left, right) in enumerate(picks):
        pixels = np.concatenate([images[left], images[right]], axis=1)
        name = f"images/{i:06d}.png"
        Image.fromarray(pixels).save(out / name)
        present = sorted({int(labels[left]), int(labels[right])})
        if layout == "pipe":
            cells = ["|".join(classes[c] for c in present)]
        else:
            cells = [int(c in present) for c in range(len(classes))]
        rows.append([name, f"p{i // 4}", *cells])
    header = ["path", "patient", *(["Finding Labels"] if layout == "pipe" else classes)]
    table = out / "pairs.csv"
    with open(table, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return table


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.multilabel_pairs")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--source", choices=SOURCES, default="digits")
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layout", choices=("pipe", "columns"), default="pipe")
    args = parser.parse_args(argv)
    table = write_pairs(args.out, args.source, args.count, args.seed, args.layout)
    print(f"wrote {args.count} images and {table}")


if __name__ == "__main__":
    run_cli(main)
