"""Fashion-MNIST for a GPU machine that has no network: one array file that travels with the
working tree, unpacked there into the IDX files `data=fashion_mnist` reads.

    python -m bench.gpu_data pack OUT.npz [--train 20000] [--test 10000]   # here (prepare_gpu.sh)
    python -m bench.gpu_data unpack OUT.npz DATA_DIR                       # there (run_gpu.sh)

`pack` keeps a stratified, seeded subset (graytransfer's `stratified_subset`, seed 0) of the
official training and test sets read from Debian's dataset-fashion-mnist (or `--source`), so the
file stays small enough for the 64 MiB a device run carries (20,000 + 10,000 images: about
13 MB compressed, the four .gz files of the whole set 31 MB). Every GPU part draws its
train/val/test subsets from this pool with the data module's own seeded splits. `unpack`
writes `DATA_DIR/FashionMNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte` (torchvision's
layout, uncompressed), so `paths.data_dir=DATA_DIR data=fashion_mnist data.download=false`
reads the pool like the real set.
"""

from __future__ import annotations

import argparse
import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graytransfer.errors import UserError

#: where Debian's dataset-fashion-mnist installs it (graytransfer.data.sources.mnist's constant,
#: not imported: `unpack` runs on the GPU box before anything heavy, numpy alone)
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

#: split -> (images file, labels file) as torchvision and the data module name them
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FOLDER = "FashionMNIST"


def _read(source: Path, name: str) -> np.ndarray:
    from graytransfer.data.decode.idx import read_idx

    for candidate in (source / name, source / f"{name}.gz"):
        if candidate.is_file():
            return read_idx(candidate)
    raise UserError(
        f"--source: {name}[.gz] not found in {source}: apt-get install dataset-fashion-mnist "
        f"(fills {DEBIAN_FASHION_MNIST}) or pass the folder holding the four IDX files"
    )


def pack(out: Path, source: Path = DEBIAN_FASHION_MNIST, train: int | None = 20000,
         test: int | None = 10000, seed: int = 0) -> dict[str, int]:  # fmt: skip
    """Write a stratified, seeded subset of Fashion-MNIST (`train` / `test` images, None: all)
    to `out` (compressed .npz: train_x, train_y, test_x, test_y as uint8 / int64). Returns the
    number of images per split."""
    from graytransfer.data.split.stratify import stratified_subset

    arrays, counts = {}, {}
    for split, size in (("train", train), ("test", test)):
        images, labels = (_read(source, name) for name in FILES[split])
        labels = labels.astype(np.int64)
        keep = stratified_subset(labels, size, seed, f"{split}_subset")
        arrays[f"{split}_x"], arrays[f"{split}_y"] = images[keep], labels[keep]
        counts[split] = len(keep)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(out)
    return counts


def write_idx(path: Path, array: np.ndarray) -> None:
    """`array` (uint8 images (N, H, W) or labels (N,)) as an IDX file (type 0x08, big-endian
    dims): what `graytransfer.data.decode.idx.read_idx` reads back."""
    data = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, data.ndim]) + struct.pack(f">{data.ndim}I", *data.shape)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(header + data.tobytes())
    tmp.replace(path)


def unpack(npz: Path, data_dir: Path) -> Path:
    """The pool in `npz` as `data_dir/FashionMNIST/raw/*-ubyte`; returns that folder."""
    if not npz.is_file():
        raise UserError(f"{npz}: no such file; run `bash bench/prepare_gpu.sh` first (writes it)")
    raw = data_dir / FOLDER / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    with np.load(npz) as arrays:
        for split, (images_name, labels_name) in FILES.items():
            labels = arrays[f"{split}_y"]
            if labels.min() < 0 or labels.max() > 255:
                raise UserError(f"{npz}: {split}_y holds labels outside 0..255")
            write_idx(raw / images_name, arrays[f"{split}_x"])
            write_idx(raw / labels_name, labels)
    return raw


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_data", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    packing = commands.add_parser("pack", help="Debian's Fashion-MNIST -> one .npz")
    packing.add_argument("out", type=Path)
    packing.add_argument("--source", type=Path, default=DEBIAN_FASHION_MNIST)
    packing.add_argument("--train", type=int, default=20000)
    packing.add_argument("--test", type=int, default=10000)
    packing.add_argument("--seed", type=int, default=0)
    unpacking = commands.add_parser("unpack", help="the .npz -> IDX files under DATA_DIR")
    unpacking.add_argument("npz", type=Path)
    unpacking.add_argument("data_dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "pack":
        counts = pack(args.out, args.source, args.train, args.test, args.seed)
        size = args.out.stat().st_size / 2**20
        print(f"[gpu_data] {counts} images -> {args.out} ({size:.1f} MiB)")
    else:
        raw = unpack(args.npz, args.data_dir)
        print(f"[gpu_data] {args.npz} -> {raw}")


if __name__ == "__main__":
    from graytransfer.cli import exit_on_user_error

    exit_on_user_error(main)
