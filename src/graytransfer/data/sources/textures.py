"""scikit-image's bundled photos cut into a patch classification task, available offline.

Each class is one photo shipped inside scikit-image's wheel (`skimage/data/*.png`, read by
`skimage.data.<name>()` without the network; colour photos are converted to luminance). Every
photo is divided into three vertical bands, `train | val | test`, by `val_split` and
`test_split` of its width; a split's patches are cut at seeded random positions from inside its
own band only, so no pixel of a validation or test patch was ever seen in training.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from graytransfer.data.base import SPLITS, GrayscaleDataModule
from graytransfer.data.resize import resize_uint8
from graytransfer.data.store.in_memory import InMemoryImages
from graytransfer.errors import UserError

#: the default classes: three textures, two kinds of printed text, three photos; all bundled
DEFAULT_IMAGES = ("brick", "grass", "gravel", "text", "page", "coins", "moon", "camera")

#: `skimage.data` function -> its file inside the wheel (checked there before loading)
BUNDLED = {
    "astronaut": "astronaut.png",
    "brick": "brick.png",
    "camera": "camera.png",
    "cell": "cell.png",
    "chelsea": "chelsea.png",
    "clock": "clock_motion.png",
    "coffee": "coffee.png",
    "coins": "coins.png",
    "grass": "grass.png",
    "gravel": "gravel.png",
    "hubble_deep_field": "hubble_deep_field.jpg",
    "immunohistochemistry": "ihc.png",
    "moon": "moon.png",
    "page": "page.png",
    "retina": "retina.jpg",
    "rocket": "rocket.jpg",
    "text": "text.png",
}

INSTALL = 'pip install "graytransfer[textures]"  (or: pip install scikit-image)'


def load_gray(name: str) -> np.ndarray:
    """The bundled scikit-image photo `name` as uint8 (H, W), colour converted to luminance.

    Only photos whose file ships inside the wheel (`BUNDLED`) are accepted, so nothing here
    reaches for the network (scikit-image downloads its other samples with pooch)."""
    try:
        import skimage.data
        from skimage.color import rgb2gray
    except ImportError as err:
        raise UserError(f"data=textures needs scikit-image: {INSTALL}") from err
    folder = Path(skimage.data.__file__).parent
    if name not in BUNDLED or not (folder / BUNDLED[name]).is_file():
        raise UserError(
            f"data.images: '{name}' is not a photo bundled with scikit-image in {folder}; "
            f"use names from {sorted(BUNDLED)}"
        )
    image = np.asarray(getattr(skimage.data, name)())
    if image.ndim == 3:
        image = np.round(rgb2gray(image[..., :3]) * 255.0)
    return image.astype(np.uint8)


def split_bands(width: int, val_split: float, test_split: float) -> dict[str, tuple[int, int]]:
    """split -> its columns `[x0, x1)` of an image `width` wide: train, then val, then test,
    side by side and never overlapping (`x1` of one band is `x0` of the next)."""
    val_x = int(round(width * (1.0 - val_split - test_split)))
    test_x = int(round(width * (1.0 - test_split)))
    return {"train": (0, val_x), "val": (val_x, test_x), "test": (test_x, width)}


def cut_patches(
    image: np.ndarray, band: tuple[int, int], count: int, size: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """`count` (size, size) patches at random positions wholly inside the columns `band`:
    uint8 (count, size, size) and their top-left corners (y, x)."""
    height = image.shape[0]
    x0, x1 = band
    ys = rng.integers(0, height - size + 1, count)
    xs = rng.integers(x0, x1 - size + 1, count)
    patches = np.stack([image[y : y + size, x : x + size] for y, x in zip(ys, xs, strict=True)])
    return patches, [(int(y), int(x)) for y, x in zip(ys, xs, strict=True)]


class TexturesDataModule(GrayscaleDataModule):
    """One class per bundled scikit-image photo (`images`), `patch_size` square patches cut from
    disjoint vertical bands per split (see the module docstring), resized to `image_size`.

    `train_per_class`, `val_per_class`, `test_per_class` patches of each photo; their positions
    come from `seed` (the bands do not move). Item ids read `name@y<Y>x<X>` (the patch's
    top-left corner in its photo), so `split.csv` shows where every patch came from. Held in
    memory, so the loaders need no workers. Common options (`augment`, `hflip`, `vflip`,
    `balance`) as in `GrayscaleDataModule`.
    """

    def __init__(
        self,
        images: Sequence[str] = DEFAULT_IMAGES,
        patch_size: int = 32,
        image_size: int | Sequence[int] = 32,
        train_per_class: int = 400,
        val_per_class: int = 100,
        test_per_class: int = 200,
        val_split: float = 0.2,
        test_split: float = 0.2,
        batch_size: int = 64,
        num_workers: int = 0,
        seed: int | None = 0,
        **kwargs,
    ) -> None:
        super().__init__(image_size, batch_size, num_workers, seed, **kwargs)
        self.images = [str(name) for name in images]
        if len(set(self.images)) < 2 or len(set(self.images)) != len(self.images):
            raise UserError(f"data.images: {self.images} must name at least 2 distinct photos")
        if val_split <= 0 or test_split <= 0 or val_split + test_split >= 1:
            raise UserError(
                f"data.val_split={val_split}, data.test_split={test_split}: both must be > 0 "
                "and sum to less than 1"
            )
        self.patch_size = int(patch_size)
        self.per_class = {"train": train_per_class, "val": val_per_class, "test": test_per_class}
        for split, count in self.per_class.items():
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise UserError(f"data.{split}_per_class: {count!r} must be a positive integer")
        self.val_split = val_split
        self.test_split = test_split

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        rng = np.random.default_rng(self.seed)
        parts: dict[str, tuple[list, list, list]] = {split: ([], [], []) for split in SPLITS}
        for label, name in enumerate(self.images):
            image = load_gray(name)
            bands = split_bands(image.shape[1], self.val_split, self.test_split)
            narrowest = min(x1 - x0 for x0, x1 in bands.values())
            if min(narrowest, image.shape[0]) < self.patch_size:
                raise UserError(
                    f"data.patch_size: {self.patch_size} does not fit photo '{name}' "
                    f"{list(image.shape)} (narrowest band {narrowest} px); use a smaller "
                    "patch_size or drop the photo from data.images"
                )
            for split in SPLITS:
                patches, corners = cut_patches(
                    image, bands[split], self.per_class[split], self.patch_size, rng
                )
                parts[split][0].append(patches)
                parts[split][1].extend([label] * len(patches))
                parts[split][2].extend(f"{name}@y{y}x{x}" for y, x in corners)
        self.class_names = list(self.images)
        for split, (patches, labels, ids) in parts.items():
            tensor = torch.from_numpy(np.concatenate(patches)).unsqueeze(1)
            dataset = InMemoryImages(
                resize_uint8(tensor, self.image_size),
                torch.tensor(labels, dtype=torch.long),
                ids,
                self.train_transform if split == "train" else None,
            )
            setattr(self, f"{split}_set", dataset)
