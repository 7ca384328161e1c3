"""MNIST, Fashion-MNIST, KMNIST and EMNIST: torchvision's sets, read from their IDX files.

Files are looked for in torchvision's layout, `<data_dir>/<Name>/raw/` (plain or `.gz`), and in
system folders (Debian's `dataset-fashion-mnist` installs Fashion-MNIST into
`/usr/share/datasets/fashion-mnist`). When they are missing and `download` is true,
`prepare_data` has torchvision download them into `<data_dir>/<Name>/raw/`; offline, a UserError
says which files to place where.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from graytransfer.data.decode.idx import read_idx
from graytransfer.data.sources.array_base import ArrayDataModule, Arrays
from graytransfer.errors import UserError

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class IdxDataModule(ArrayDataModule):
    """Base of the MNIST family: subclasses name the torchvision class, the files, the classes."""

    name: ClassVar[str]  # the `data=` choice, for messages
    folder: ClassVar[str]  # torchvision's class name = its folder under data_dir
    classes: ClassVar[list[str]]
    system_dirs: ClassVar[tuple[Path, ...]] = ()

    def __init__(
        self,
        data_dir: str,
        image_size: int | Sequence[int] = 28,
        download: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(image_size, **kwargs)
        self.data_dir = Path(data_dir).expanduser()
        self.download = download

    def file_names(self) -> dict[str, tuple[str, str]]:
        """split -> (images file, labels file), without `.gz`."""
        return {
            "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
            "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
        }

    def class_list(self) -> list[str]:
        return list(self.classes)

    def search_dirs(self) -> list[Path]:
        return [self.data_dir / self.folder / "raw", *self.system_dirs]

    def _find(self, name: str) -> Path | None:
        for folder in self.search_dirs():
            for candidate in (folder / name, folder / f"{name}.gz"):
                if candidate.is_file():
                    return candidate
        return None

    def _missing(self) -> list[str]:
        return [n for pair in self.file_names().values() for n in pair if self._find(n) is None]

    def torchvision_download(self) -> None:
        """Have torchvision download (and unpack) the files into `<data_dir>/<folder>/raw`."""
        import torchvision.datasets as tvd

        getattr(tvd, self.folder)(root=str(self.data_dir), train=True, download=True)

    def prepare_data(self) -> None:
        if not self._missing() or not self.download:
            return
        try:
            self.torchvision_download()
        except Exception as err:  # no network, mirror down, disk full: all end the same way
            why = " ".join(line.strip() for line in str(err).splitlines() if line.strip())
            why = (why or type(err).__name__)[:300]
            raise UserError(self._missing_message(f"; the download failed ({why})")) from err

    def _missing_message(self, why: str = "") -> str:
        files = ", ".join(f"{n}[.gz]" for n in self._missing())
        where = " or ".join(str(d) for d in self.search_dirs())
        hint = "" if self.download else "; or set data.download=true when online"
        return (
            f"data={self.name}: {files} not found in {where}{why}: place these files (from "
            f"{self.source()}) in {self.search_dirs()[0]}{self._extra_hint()}{hint}"
        )

    def source(self) -> str:
        """Where torchvision downloads the files from (its first mirror)."""
        import torchvision.datasets as tvd

        dataset = getattr(tvd, self.folder)
        return getattr(dataset, "url", None) or dataset.mirrors[0]

    def _extra_hint(self) -> str:
        return ""

    def load_arrays(self) -> Arrays:
        if self._missing():
            raise UserError(self._missing_message())
        arrays: Arrays = {}
        for split, (images_name, labels_name) in self.file_names().items():
            images = read_idx(self._find(images_name))
            labels = read_idx(self._find(labels_name)).astype(np.int64)
            if images.ndim != 3 or images.dtype != np.uint8 or len(images) != len(labels):
                raise UserError(
                    f"data={self.name}: '{self._find(images_name)}' holds {images.dtype} "
                    f"{list(images.shape)} for {len(labels)} labels; expected uint8 (N, H, W)"
                )
            labels = self.relabel(labels)
            arrays[split] = (self.orient(images), labels)
            if labels.min() < 0 or labels.max() >= len(self.class_list()):
                raise UserError(
                    f"data={self.name}: '{self._find(labels_name)}' has labels outside "
                    f"0..{len(self.class_list()) - 1}"
                )
        return arrays

    def orient(self, images: np.ndarray) -> np.ndarray:
        return images

    def relabel(self, labels: np.ndarray) -> np.ndarray:
        return labels


class MnistDataModule(IdxDataModule):
    """MNIST handwritten digits (60,000 train + 10,000 test, 28x28)."""

    name = "mnist"
    folder = "MNIST"
    classes: ClassVar[list[str]] = [str(d) for d in range(10)]


class FashionMnistDataModule(IdxDataModule):
    """Fashion-MNIST (Zalando; 60,000 train + 10,000 test, 28x28, 10 clothing classes). Also
    found offline where Debian's `dataset-fashion-mnist` package installs it."""

    name = "fashion_mnist"
    folder = "FashionMNIST"
    classes: ClassVar[list[str]] = [
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ]  # fmt: skip
    system_dirs = (DEBIAN_FASHION_MNIST,)

    def _extra_hint(self) -> str:
        return f" (or apt-get install dataset-fashion-mnist, which fills {DEBIAN_FASHION_MNIST})"


class KmnistDataModule(IdxDataModule):
    """Kuzushiji-MNIST (cursive Japanese hiragana; 60,000 train + 10,000 test, 28x28)."""

    name = "kmnist"
    folder = "KMNIST"
    classes: ClassVar[list[str]] = ["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"]


_EMNIST_MERGED = set("cijklmopsuvwxyz")
EMNIST_CLASSES = {
    "byclass": sorted(string.digits + string.ascii_letters),
    "bymerge": sorted(set(string.digits + string.ascii_letters) - _EMNIST_MERGED),
    "balanced": sorted(set(string.digits + string.ascii_letters) - _EMNIST_MERGED),
    "letters": list(string.ascii_lowercase),
    "digits": list(string.digits),
    "mnist": list(string.digits),
}


class EmnistDataModule(IdxDataModule):
    """EMNIST handwritten characters, split `byclass|bymerge|balanced|letters|digits|mnist`.

    The files store images transposed; they are turned upright here. `letters` labels run 1..26
    in the files and 0..25 (a..z) here."""

    name = "emnist"
    folder = "EMNIST"

    def __init__(self, data_dir: str, split: str = "balanced", **kwargs) -> None:
        if split not in EMNIST_CLASSES:
            raise UserError(f"data.split: '{split}' is not one of {list(EMNIST_CLASSES)}")
        self.split = split
        super().__init__(data_dir, **kwargs)

    def file_names(self) -> dict[str, tuple[str, str]]:
        return {
            part: (f"emnist-{self.split}-{part}-images-idx3-ubyte",
                   f"emnist-{self.split}-{part}-labels-idx1-ubyte")
            for part in ("train", "test")
        }  # fmt: skip

    def class_list(self) -> list[str]:
        return list(EMNIST_CLASSES[self.split])

    def torchvision_download(self) -> None:
        import torchvision.datasets as tvd

        tvd.EMNIST(root=str(self.data_dir), split=self.split, train=True, download=True)

    def orient(self, images: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(images.transpose(0, 2, 1))

    def relabel(self, labels: np.ndarray) -> np.ndarray:
        return labels - 1 if self.split == "letters" else labels
