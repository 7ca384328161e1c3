"""Image folders with one sub-folder per class, as Keras' `flow_from_directory`."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

from graytransfer.data.decode.gray import list_folder
from graytransfer.data.decode.scan import BadFile
from graytransfer.data.sources.file_base import FileDataModule, Items
from graytransfer.errors import UserError


def scan_classes(root: Path) -> tuple[list[str], list[Path], list[int], list[BadFile]]:
    """Class names (sorted sub-folder names), image paths, labels, and bad entries: empty class
    folders and dangling symlinks (an image name whose target is gone).

    Images may sit in nested folders below a class folder; files directly in `root` and hidden
    files and folders (a name starting with `.`, e.g. `.ipynb_checkpoints/`) at every depth are
    ignored; other files with unknown suffixes are counted in one warning.
    """
    if not root.is_dir():
        raise UserError(
            f"data.root '{root}' does not exist or is not a folder: point it at a folder with one "
            "sub-folder of images per class"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise UserError(
            f"data.root '{root}' holds no class folders: put each class's images in its own "
            "sub-folder (root/cat/*.png, root/dog/*.png)"
        )
    paths: list[Path] = []
    labels: list[int] = []
    bad: list[BadFile] = []
    ignored = 0
    for label, name in enumerate(classes):
        found = list_folder(root / name)
        if not found.images:
            bad.append(BadFile(root / name, "holds no images (.png .jpg .bmp .tif .dcm)"))
        bad += [
            BadFile(p, "is a dangling symlink (its target does not exist)") for p in found.dangling
        ]
        paths += found.images
        labels += [label] * len(found.images)
        ignored += found.others
    if ignored:
        warnings.warn(
            f"{root}: ignored {ignored} file(s) that are not images by their suffix "
            "(.png .jpg .jpeg .bmp .tif .tiff .dcm)",
            UserWarning,
            stacklevel=2,
        )
    return classes, paths, labels, bad


class FolderDataModule(FileDataModule):
    """`root/<class>/*.png` split into train/val/test by `val_split`/`test_split` (stratified,
    seeded), or `root/train`, `root/val`, `root/test` when `root/train` exists (a missing `val/`
    or `test/` is split off `train/`). Every file is checked before training (see
    `FileDataModule` for `scale16`, `on_bad_file`, `scan`, `cache`)."""

    def __init__(self, root: str, image_size: int | Sequence[int] = 224, **kwargs) -> None:
        super().__init__(image_size, **kwargs)
        if root in (None, "", "???"):
            raise UserError("data.root is not set: pass data.root=DIR, a folder of class folders")
        self.root = Path(root).expanduser()

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        if (self.root / "train").is_dir():
            self._setup_explicit()
        else:
            classes, paths, labels, empty = scan_classes(self.root)
            self._build(classes, {"train": (paths, labels)}, f"data.root '{self.root}'", empty)

    def _setup_explicit(self) -> None:
        classes, paths, labels, empty = scan_classes(self.root / "train")
        items: Items = {"train": (paths, labels)}
        for name in ("val", "test"):
            folder = self.root / name
            if not folder.is_dir():
                continue
            names, p, y, more_empty = scan_classes(folder)
            unknown = sorted(set(names) - set(classes))
            if unknown:
                raise UserError(
                    f"'{folder}' has class folders {unknown} that '{self.root / 'train'}' "
                    "lacks: every split needs the same classes"
                )
            remap = [classes.index(n) for n in names]
            items[name] = (p, [remap[label] for label in y])
            empty += more_empty
        self._build(classes, items, f"data.root '{self.root}'", empty)
