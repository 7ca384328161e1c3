"""The pixel check of `bench.peer`: timm's own dataset and no-aug transforms, built as timm's
train.py builds them for the harness' arguments (1x32x32, crop_pct 1.0, mean/std 0.5, mode L),
must return exactly (x/255 - 0.5)/0.5 of the harness' arrays for the exported PNGs."""

from __future__ import annotations

from pathlib import Path

import torch

from bench.peer_data import TIMM_FOLDERS, read_split


def check_timm_pixels(work: Path, per_split: int = 64) -> int:
    """Compare the first `per_split` images of each exported folder, through timm's train
    (no-aug) and eval transforms, with the arrays in `work/split.npz`; raise on any difference.
    Returns the number of images compared."""
    from timm.data import create_dataset, create_transform

    split = read_split(work / "split.npz")
    checked = 0
    for name, folder in TIMM_FOLDERS.items():
        height, width = split[f"{name}_x"].shape[1:]
        transform = create_transform(
            input_size=(1, int(height), int(width)),
            is_training=name == "train",
            no_aug=True,
            interpolation="bicubic",  # tf_efficientnet_lite0's pretrained_cfg
            mean=(0.5,),
            std=(0.5,),
            crop_pct=1.0,
        )
        dataset = create_dataset(
            "", root=str(work / "images"), split=folder, input_img_mode="L", transform=transform
        )
        if len(dataset) != len(split[f"{name}_y"]):
            raise RuntimeError(f"timm reads {len(dataset)} images from {folder}/, expected more")
        for index in range(min(per_split, len(dataset))):
            image, label = dataset[index]
            source = int(Path(dataset.filename(index)).stem)
            expected = (torch.from_numpy(split[f"{name}_x"][source]).float() / 255 - 0.5) / 0.5
            if label != split[f"{name}_y"][source] or not torch.allclose(
                image[0], expected, atol=1e-6
            ):
                raise RuntimeError(
                    f"timm's view of {dataset.filename(index)} differs from the split's image "
                    f"{source} (label {label} vs {split[f'{name}_y'][source]})"
                )
            checked += 1
    return checked
