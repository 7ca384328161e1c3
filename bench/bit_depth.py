"""The value of full bit depth, measured: a generated CT-like task whose classes differ only in
intensity detail finer than 1/256 of the stored range, trained (the real data module and
classifier, a bare loop) on the 8-bit path and on the full-depth path (a fixed window; learned
windows over the full range), test accuracy over seeds; plus loader images/s and bytes per image
at 8 and 16 bits.

    OMP_NUM_THREADS=1 python -m bench.bit_depth --threads 1 --out bench/results/cpu/bit_depth.json

(one thread: on a shared 2-core machine two OpenMP threads per process spin against the other
processes and run several times slower.)

The task (`write_task`): CT-like DICOM files (stored 0..4095 with RescaleIntercept -1024, so
-1024..3071 HU; 1/256 of that range = 16 HU), no window in the files. Each image is a body of
soft tissue (40 HU, noise sigma `--noise` HU) in air (-1000 HU) with a bone rim (+1000 HU, so
every image spans ~2000 HU); class 1 adds a faint disc lesion of +`--contrast` HU (default 5,
under a third of 16 HU) at a random place, class 0 none. The 8-bit path is today's default for
such files (no window in the file: each image's own min..max onto 0..255, steps of ~8 HU); the
full-depth paths read int16 HU and map in the model.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import (
    add_run_arguments,
    compose,
    machine_info,
    quiet_lightning,
    report,
    run_cli,
    set_threads,
)
from bench.loop import seed_all, train_bare

#: variant -> overrides on top of the shared ones
VARIANTS: dict[str, list[str]] = {
    "8-bit (per-image min..max), repeat": ["data.bit_depth=8", "adapt=repeat"],
    "full depth, fixed window [40, 40] HU, repeat": [
        "data.bit_depth=16", "intensity=window", "intensity.center=40", "intensity.width=40",
        "adapt=repeat",
    ],
    "full depth, range + learned windows (spread)": [
        "data.bit_depth=16", "intensity=range", "adapt=windows",
    ],
    "full depth, range + learned windows (brain, subdural, stroke)": [
        "data.bit_depth=16", "intensity=range", "adapt=windows",
        "adapt.presets=[brain,subdural,stroke]",
    ],
}  # fmt: skip
COLUMNS = ("variant", "seeds", "test_acc_mean", "test_acc_min", "test_acc_max", "test_acc")
SPLITS = {"train": 0.6, "val": 0.15, "test": 0.25}


def ct_image(rng: np.random.Generator, size: int, lesion: bool, contrast: float, noise: float):
    """One HU image (float): air, a body of soft tissue with a bone rim, maybe a faint lesion."""
    y, x = np.mgrid[0:size, 0:size] - (size - 1) / 2
    r = np.hypot(y, x) / (size / 2)
    hu = np.full((size, size), -1000.0)
    hu[r < 0.95] = 1000.0  # bone rim
    hu[r < 0.85] = 40.0  # soft tissue
    if lesion:
        cy, cx = rng.uniform(-size / 5, size / 5, 2)
        hu[np.hypot(y - cy, x - cx) < size / 8] += contrast
    return hu + rng.normal(0.0, noise, hu.shape)


def write_dicom(path: Path, stored: np.ndarray) -> None:
    """A CT-like single-frame DICOM: unsigned 12-bit stored values, intercept -1024, no window."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = pydicom.Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "CT"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
    ds.PixelData = stored.astype(np.uint16).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def write_task(root: Path, count: int, size: int, contrast: float, noise: float, seed: int):
    """`root/{train,val,test}/{clear,lesion}/*.dcm`: CT-like DICOM files (see the module)."""
    rng = np.random.default_rng(seed)
    names = ("clear", "lesion")
    for split, share in SPLITS.items():
        for i in range(int(count * share)):
            label = i % 2
            hu = ct_image(rng, size, bool(label), contrast, noise)
            stored = np.clip(np.rint(hu + 1024), 0, 4095).astype(np.uint16)
            write_dicom(root / split / names[label] / f"{i:05d}.dcm", stored)


def train_variant(root: Path, overrides: list[str], seed: int, args, work: Path) -> float:
    """Test accuracy after `args.epochs` epochs: the real data module and classifier (built as
    the pipeline builds them), trained by the bare loop; the last epoch's weights are tested."""
    import torch
    from hydra.utils import instantiate

    from graytransfer.model.build import build_classifier, input_values_of

    cfg = compose(
        [
            "data=folder", f"data.root={root}", "data.num_workers=0",
            f"data.batch_size={args.batch_size}", f"seed={seed}", f"model={args.model}",
            f"optim.lr={args.lr}", *overrides, *args.overrides,
        ],
        work / "run",
    )  # fmt: skip
    size = (args.image_size, args.image_size)
    seed_all(seed)
    data = instantiate(cfg.data, image_size=list(size), seed=seed)
    data.setup("fit")
    model = build_classifier(
        cfg, instantiate(cfg.model), class_names=data.class_names, image_size=size,
        input_values=input_values_of(data),
    )  # fmt: skip
    loader = data.train_dataloader()
    optimizer, scheduler = model.build_optimizer(len(loader) * args.epochs)
    train_bare(model, loader, optimizer, scheduler, epochs=args.epochs, device="cpu")
    model.eval()
    right = total = 0
    with torch.no_grad():
        for images, labels in data.test_dataloader():
            right += int((model(images).argmax(-1) == labels).sum())
            total += len(labels)
    return right / total


def loader_rate(root: Path, bit_depth: int, size: int, repeats: int) -> dict[str, Any]:
    """Images/s of the folder module's file loader (decode + resize, no cache, no workers) and
    bytes per image of its batches."""
    from graytransfer.data import FolderDataModule

    data = FolderDataModule(
        root=str(root), image_size=size, bit_depth=bit_depth, cache=False,
        scan="none", num_workers=0,
    )  # fmt: skip
    data.setup()
    items = data.train_set
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(len(items)):
            image, _ = items[i]
        rates.append(len(items) / (time.perf_counter() - start))
    return {
        "rate": float(np.median(rates)),
        "bytes": image.numel() * image.element_size(),
        "dtype": str(image.dtype).removeprefix("torch."),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.bit_depth", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--images", type=int, default=600, help="images in all (60/15/25 %)")
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--contrast", type=float, default=5.0, help="lesion contrast, HU")
    parser.add_argument("--noise", type=float, default=1.5, help="noise sigma, HU")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--variants", default="all", help="'all' or indices, e.g. 0,1")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--model", default="lite0")
    parser.add_argument("--loader-repeats", type=int, default=3)
    add_run_arguments(parser, "bit_depth")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    set_threads(args.threads)
    quiet_lightning()
    seeds = [int(s) for s in args.seeds.split(",")]
    info = machine_info("cpu")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        root = work / "task"
        write_task(root, args.images, args.image_size, args.contrast, args.noise, seed=1234)
        names = list(VARIANTS)
        if args.variants != "all":
            names = [names[int(i)] for i in args.variants.split(",")]
        accs: dict[str, list[float]] = {v: [] for v in names}
        for seed in seeds:  # variants interleaved, so load changes hit them alike
            for variant in names:
                accs[variant].append(train_variant(root, VARIANTS[variant], seed, args, work))
                print(f"seed {seed} {variant}: test/acc {accs[variant][-1]:.3f}", flush=True)
        loaders = {d: loader_rate(root / "train", d, args.image_size, args.loader_repeats)
                   for d in (8, 16)}  # fmt: skip
    rows = [
        {
            "variant": v,
            "seeds": len(a),
            "test_acc_mean": float(np.mean(a)),
            "test_acc_min": float(np.min(a)),
            "test_acc_max": float(np.max(a)),
            "test_acc": ", ".join(f"{x:.3f}" for x in a),
        }
        for v, a in accs.items()
    ]
    summary = {f"loader {d}-bit images/s ({r['dtype']})": r["rate"] for d, r in loaders.items()} | {
        f"bytes per image {d}-bit": r["bytes"] for d, r in loaders.items()
    }
    settings = {k: v for k, v in vars(args).items() if k != "out"} | {"variants": VARIANTS}
    notes = [
        f"stored range -1024..3071 HU; 1/256 of it = 16 HU; lesion contrast "
        f"{args.contrast:g} HU, noise sigma {args.noise:g} HU; chance = 0.5",
    ]
    return report("bit_depth", info, settings, rows, COLUMNS, args.out, summary, notes)


if __name__ == "__main__":
    run_cli(main)
