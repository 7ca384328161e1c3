"""The inputs every runner of `bench.peer` shares, written once per harness run: the split (the
project's own data module at the seed, as uint8 arrays), the same images as an ImageFolder of
PNGs for timm's `train.py`, and the packaged Lite0 ImageNet weights as a timm-format `.pth`.

Layout under `work`:

    split.npz                  {train,val,test}_{x,y,ids}: uint8 (N, H, W), int64, source ids
    images/train/<k>_<name>/   PNGs of the training split (timm's --train-split)
    images/validation/...      PNGs of the TEST split: timm's per-epoch eval is the test accuracy
    lite0_in1k.pth             timm key names, 3 channels, 1000 classes (--pretrained-path)

Class folders are named `<label>_<class name>` (the name made safe for a path) so both timm's
natural sort and a plain sort give the labels back in order.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from graytransfer.atomic import write_json_atomic

SPLITS = ("train", "val", "test")
#: split -> the ImageFolder folder timm's train.py reads it from (`--train-split`, `--val-split`)
TIMM_FOLDERS = {"train": "train", "test": "validation"}
LITE0 = "tf_efficientnet_lite0"  # the packaged ImageNet weights the peers share


def data_overrides(
    train: int, val: int, test: int | None, size: int, batch: int, seed: int
) -> list[str]:
    """Hydra overrides of the study's Fashion-MNIST task (conf/experiment/study_data), sized."""
    return [
        "data=fashion_mnist",
        f"data.image_size={size}",
        f"data.batch_size={batch}",
        "data.download=false",
        f"data.train_subset={train}",
        f"data.val_subset={val}",
        f"data.test_subset={'null' if test is None else test}",
        f"seed={seed}",
    ]


def load_split(overrides: Sequence[str], work: Path) -> dict[str, dict[str, Any]]:
    """The three splits as the project's data module builds them for `overrides` (its seeded,
    stratified subsets, resized once): split -> {x: uint8 (N, H, W), y: int64, ids: [str]}."""
    from graytransfer.config import compose
    from graytransfer.run import build_data

    cfg = compose(list(overrides), output_dir=work / "compose")
    data = build_data(cfg, (int(cfg.data.image_size),) * 2)
    data.setup("fit")
    found: dict[str, dict[str, Any]] = {}
    for split in SPLITS:
        dataset = getattr(data, f"{split}_set")
        found[split] = {
            "x": dataset.images[:, 0].numpy(),
            "y": dataset.labels.numpy(),
            "ids": list(dataset.ids),
        }
    found["classes"] = list(data.class_names)  # type: ignore[assignment]
    return found


def class_folder(label: int, name: str) -> str:
    return f"{label}_{re.sub(r'[^A-Za-z0-9]+', '_', name).strip('_')}"


def write_split(split: dict[str, Any], path: Path) -> None:
    arrays = {}
    for name in SPLITS:
        arrays[f"{name}_x"] = split[name]["x"]
        arrays[f"{name}_y"] = split[name]["y"]
        arrays[f"{name}_ids"] = np.asarray(split[name]["ids"])
    arrays["classes"] = np.asarray(split["classes"])
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)


def read_split(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as arrays:
        return {key: arrays[key] for key in arrays.files}


def write_image_folder(split: dict[str, Any], root: Path) -> dict[str, int]:
    """PNGs of the train and test splits (lossless, 8-bit gray) under `root/<folder>/<class>/`;
    every file is read back and compared, so the folder holds exactly the arrays' pixels.
    Returns images per folder."""
    from PIL import Image

    counts = {}
    for name, folder in TIMM_FOLDERS.items():
        x, y = split[name]["x"], split[name]["y"]
        for label, cls in enumerate(split["classes"]):
            (root / folder / class_folder(label, cls)).mkdir(parents=True, exist_ok=True)
        for index, (image, label) in enumerate(zip(x, y, strict=True)):
            path = root / folder / class_folder(int(label), split["classes"][label])
            path = path / f"{index:05d}.png"
            Image.fromarray(image, mode="L").save(path)
            with Image.open(path) as back:
                if not np.array_equal(np.asarray(back), image):
                    raise RuntimeError(f"{path}: PNG does not read back the same pixels")
        counts[folder] = len(y)
    return counts


def write_timm_weights(path: Path) -> str:
    """The packaged ImageNet Lite0 weights (graytransfer's loader) saved under timm's key names
    for a 3-channel, 1000-class `tf_efficientnet_lite0`: what `--pretrained-path` and timm's
    `pretrained_cfg_overlay=dict(file=...)` load (adapting the stem to `in_chans` themselves)."""
    import timm

    from graytransfer.model.weights import map_by_position, packaged_state

    model = timm.create_model(LITE0, pretrained=False, num_classes=1000)
    model.load_state_dict(map_by_position(packaged_state(LITE0), model))
    tmp = path.with_name(path.name + ".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)
    return LITE0


def prepare(overrides: Sequence[str], work: Path) -> dict[str, Any]:
    """Write split.npz, the PNG folders and the weights under `work`, or reuse them when
    `work/prepared.json` records the same `overrides` (a rerun, or tests sharing a folder);
    return what was written (split sizes, class counts, paths, the source ids per split)."""
    record = work / "prepared.json"
    if record.is_file():
        found = json.loads(record.read_text())
        if found.get("overrides") == list(overrides):
            return found
    work.mkdir(parents=True, exist_ok=True)
    split = load_split(overrides, work)
    if (work / "images").exists():
        shutil.rmtree(work / "images")  # another split's PNGs must not stay among these
    write_split(split, work / "split.npz")
    folders = write_image_folder(split, work / "images")
    write_timm_weights(work / "lite0_in1k.pth")
    found = {
        "overrides": list(overrides),
        "split_counts": {name: len(split[name]["y"]) for name in SPLITS},
        "class_counts": {
            name: np.bincount(split[name]["y"], minlength=len(split["classes"])).tolist()
            for name in SPLITS
        },
        "image_folder": {"root": str(work / "images"), "images": folders},
        "weights": str(work / "lite0_in1k.pth"),
        "split_file": str(work / "split.npz"),
        "ids": {name: split[name]["ids"] for name in SPLITS},
    }
    write_json_atomic(record, found)
    return found
