"""MedMNIST v2/v3 grayscale 2D subsets, read from the project's own `.npz` files.

Each subset is one file, `<flag>.npz` for 28x28 and `<flag>_<size>.npz` for 64, 128 and 224
(MedMNIST+), holding `train_images`, `train_labels`, `val_images`, `val_labels`, `test_images`,
`test_labels` (images uint8 (N, H, W), labels (N, 1); ChestMNIST's (N, 14) are 0/1 per finding,
a multi-label set for `task=multilabel`). Files are looked for in
`<data_dir>/medmnist/` and in `~/.medmnist/` (the `medmnist` package's default); when missing and
`download` is true, `prepare_data` downloads them from Zenodo (with their MD5s) into
`<data_dir>/medmnist/`. The official train/val/test split is used.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from graytransfer.data.sources.array_base import ArrayDataModule, Arrays
from graytransfer.errors import UserError

ZENODO = "https://zenodo.org/records/10519652/files/"
SIZES = (28, 64, 128, 224)

ORGANS = [
    "bladder",
    "femur-left",
    "femur-right",
    "heart",
    "kidney-left",
    "kidney-right",
    "liver",
    "lung-left",
    "lung-right",
    "pancreas",
    "spleen",
]

#: subset -> (flag, class names, MD5 per size), from MedMNIST's own `info.py` (v3.0)
SUBSETS: dict[str, tuple[str, list[str], dict[int, str]]] = {
    "pneumonia": (
        "pneumoniamnist",
        ["normal", "pneumonia"],
        {28: "28209eda62fecd6e6a2d98b1501bb15f", 64: "8f4eceb4ccffa70c672198ea285246c6",
         128: "05b46931834c231683c68f40c47b2971", 224: "d6a3c71de1b945ea11211b03746c1fe1"},
    ),
    "breast": (
        "breastmnist",
        ["malignant", "normal, benign"],
        {28: "750601b1f35ba3300ea97c75c52ff8f6", 64: "742edef2a1fd1524b2efff4bd7ba9364",
         128: "363e4b3f8d712e9b5de15470a2aaadf1", 224: "b56378a6eefa9fed602bb16d192d4c8b"},
    ),
    "oct": (
        "octmnist",
        ["choroidal neovascularization", "diabetic macular edema", "drusen", "normal"],
        {28: "c68d92d5b585d8d81f7112f81e2d0842", 64: "e229e9440236b774d9f0dfef9d07bdaf",
         128: "0a97e76651ace45c5d943ee3f65b63ae", 224: "abc493b6d529d5de7569faaef2773ba3"},
    ),
    "tissue": (
        "tissuemnist",
        ["Collecting Duct, Connecting Tubule", "Distal Convoluted Tubule",
         "Glomerular endothelial cells", "Interstitial endothelial cells", "Leukocytes",
         "Podocytes", "Proximal Tubule Segments", "Thick Ascending Limb"],
        {28: "ebe78ee8b05294063de985d821c1c34b", 64: "123ece2eba09d0aa5d698fda57103344",
         128: "61b955355d7425a89687b06cca3ce0c2", 224: "b077128c4a949f0a4eb01517f9037b9c"},
    ),
    "organ_a": (
        "organamnist",
        ORGANS,
        {28: "68e3f8846a6bd62f0c9bf841c0d9eacc", 64: "2dcccc29b88e6da5a01161ef20cda288",
         128: "eeae80d0a227a8d099027e1b3cfd3b60", 224: "50747347e05c87dd3aaf92c49f9f3170"},
    ),
    "organ_c": (
        "organcmnist",
        ORGANS,
        {28: "b9ceb9546e10131b32923c5bbeaea2b1", 64: "3ce34a8724ea6f548e6db4744d03b6a9",
         128: "773c1f009daa3fe5d9a2a201b2a7ed94", 224: "050f5e875dc056f6768abf94ec9995d1"},
    ),
    "chest": (
        "chestmnist",
        ["atelectasis", "cardiomegaly", "effusion", "infiltration", "mass", "nodule",
         "pneumonia", "pneumothorax", "consolidation", "edema", "emphysema", "fibrosis",
         "pleural", "hernia"],
        {28: "02c8a6516a18b556561a56cbdd36c4a8", 64: "9de6cd0b934ebb5b7426cfba5efbae16",
         128: "db107e5590b27930b62dbaf558aebee3", 224: "45bd33e6f06c3e8cdb481c74a89152aa"},
    ),
    "organ_s": (
        "organsmnist",
        ORGANS,
        {28: "9ab87b696fb54e2a387ebe992d6ed5f1", 64: "53a6d115339d874c25e309a994ff46d3",
         128: "ded0c5fa01a95dc4978b956f613e9b8e", 224: "b354719e553fbbb2513d5533f52a4cb1"},
    ),
}  # fmt: skip


def npz_name(flag: str, size: int) -> str:
    """MedMNIST's file name: `pneumoniamnist.npz` (28) or `pneumoniamnist_64.npz`."""
    return f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"


def read_medmnist_npz(path: Path) -> Arrays:
    """The three official splits of one MedMNIST file as uint8 (N, H, W) and int64 labels:
    (N,) class indices, or (N, L) 0/1 per label for a multi-label file (ChestMNIST);
    colour images (N, H, W, 3) become luminance."""
    try:
        with np.load(path) as npz:
            arrays: Arrays = {}
            for split in ("train", "val", "test"):
                images = npz[f"{split}_images"]
                labels = npz[f"{split}_labels"]
                if images.ndim == 4 and images.shape[-1] == 3:
                    luma = images.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
                    images = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
                if images.ndim != 3 or images.dtype != np.uint8 or labels.shape[0] != len(images):
                    raise ValueError(
                        f"{split}_images is {images.dtype} {list(images.shape)} for "
                        f"{labels.shape[0]} labels; expected uint8 (N, H, W)"
                    )
                if labels.ndim != 2 or labels.shape[1] == 1:
                    labels = labels.reshape(-1)
                arrays[split] = (images, labels.astype(np.int64))
    except (OSError, KeyError, ValueError) as err:
        raise UserError(
            f"'{path}' is not a usable MedMNIST file ({err}): download it again"
        ) from err
    return arrays


class MedMnistDataModule(ArrayDataModule):
    """A grayscale MedMNIST subset (`subset`: pneumonia, breast, oct, tissue, organ_a, organ_c,
    organ_s, and the multi-label chest, ChestMNIST's 14 findings, for `task=multilabel`) at a
    stored `size` (28, 64, 128, 224), resized to `image_size` if they differ."""

    def __init__(
        self,
        data_dir: str,
        subset: str = "pneumonia",
        size: int = 28,
        image_size: int | Sequence[int] = 28,
        download: bool = True,
        **kwargs,
    ) -> None:
        if subset not in SUBSETS:
            raise UserError(
                f"data.subset: '{subset}' is not a grayscale 2D MedMNIST subset; choose one of "
                f"{list(SUBSETS)}"
            )
        if size not in SIZES:
            raise UserError(f"data.size: {size} is not one of MedMNIST's sizes {list(SIZES)}")
        super().__init__(image_size, **kwargs)
        self.data_dir = Path(data_dir).expanduser()
        self.subset = subset
        self.size = size
        self.download = download
        self.flag, self.classes, self.md5 = SUBSETS[subset]

    @property
    def file_name(self) -> str:
        return npz_name(self.flag, self.size)

    def search_dirs(self) -> list[Path]:
        return [self.data_dir / "medmnist", Path.home() / ".medmnist"]

    def _find(self) -> Path | None:
        return next(
            (d / self.file_name for d in self.search_dirs() if (d / self.file_name).is_file()), None
        )

    def url(self) -> str:
        return f"{ZENODO}{self.file_name}?download=1"

    def prepare_data(self) -> None:
        if self._find() is not None or not self.download:
            return
        from torchvision.datasets.utils import download_url

        try:
            download_url(
                self.url(), str(self.search_dirs()[0]), self.file_name, self.md5[self.size]
            )
        except Exception as err:  # no network, record moved, checksum mismatch
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise UserError(self._missing_message(f"; the download failed ({first})")) from err

    def _missing_message(self, why: str = "") -> str:
        where = " or ".join(str(d) for d in self.search_dirs())
        return (
            f"data=medmnist: {self.file_name} not found in {where}{why}: download it from "
            f"{self.url()} (MD5 {self.md5[self.size]}) into {self.search_dirs()[0]}"
            + ("" if self.download else ", or set data.download=true when online")
        )

    def class_list(self) -> list[str]:
        return list(self.classes)

    def load_arrays(self) -> Arrays:
        path = self._find()
        if path is None:
            raise UserError(self._missing_message())
        arrays = read_medmnist_npz(path)
        for split, (_, labels) in arrays.items():
            if labels.ndim == 2:
                if labels.shape[1] != len(self.classes) or not np.isin(labels, (0, 1)).all():
                    raise UserError(
                        f"'{path}': {split}_labels {list(labels.shape)} are not 0/1 for the "
                        f"{len(self.classes)} labels of data.subset={self.subset}"
                    )
                continue
            if len(labels) and (labels.min() < 0 or labels.max() >= len(self.classes)):
                raise UserError(
                    f"'{path}': {split}_labels outside 0..{len(self.classes) - 1} for "
                    f"data.subset={self.subset}"
                )
        return arrays
