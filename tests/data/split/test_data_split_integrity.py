"""Split integrity for every data module, on real files in the formats each one reads.

For each: train/val/test are pairwise disjoint, their union is every image, each split holds the
expected (stratified) number of images per class, every item's label is its source's label, and
val/test items are the source images untouched although training augments (`augment=strong`,
flips on). A val drawn from the training images, or augmentation applied to val/test, fails here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datafiles import class_folders, numbered_pngs, write_idx, write_medmnist, write_table
from sklearn.datasets import load_digits

from graytransfer.data import (
    CsvDataModule,
    DigitsDataModule,
    EmnistDataModule,
    FashionMnistDataModule,
    FolderDataModule,
    GrayscaleDataModule,
    KmnistDataModule,
    MedMnistDataModule,
    MnistDataModule,
)
from graytransfer.data.decode.gray import decode_gray
from graytransfer.data.split.stratify import split_indices
from graytransfer.errors import UserError

AUGMENTED = {"augment": "strong", "hflip": True, "vflip": True, "num_workers": 0}

#: id -> (label, uint8 (H, W) image as the module must yield it un-augmented)
Source = Callable[[str], tuple[int, np.ndarray]]


def check_integrity(
    data: GrayscaleDataModule,
    all_ids: set[str],
    counts: dict[str, list[int]],
    source: Source,
) -> None:
    data.setup("fit")
    splits = {"train": data.train_set, "val": data.val_set, "test": data.test_set}
    ids = {name: list(s.ids) for name, s in splits.items()}
    for name, listed in ids.items():
        assert len(set(listed)) == len(listed), f"{name} holds an image twice"
    for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
        shared = set(ids[a]) & set(ids[b])
        assert not shared, f"{a} and {b} share {sorted(shared)[:3]}"
    assert set().union(*map(set, ids.values())) == all_ids, "the splits are not every image"
    for name, s in splits.items():
        found = torch.bincount(s.labels, minlength=data.num_classes).tolist()
        assert found == counts[name], f"{name} class counts {found} != {counts[name]}"
        for index, item in enumerate(ids[name]):
            assert int(s.labels[index]) == source(item)[0], f"{name} {item}: wrong label"
    assert splits["train"].transform is not None  # the check below is not vacuous
    torch.manual_seed(0)
    for name in ("val", "test"):
        s = splits[name]
        for index, item in enumerate(ids[name]):
            image, label = s[index]
            assert int(label) == source(item)[0]
            assert np.array_equal(image[0].numpy(), source(item)[1]), f"{name} {item} augmented"


def test_folder(tmp_path):
    root = class_folders(tmp_path / "images", {"a": 20, "b": 10, "c": 10})
    names = ["a", "b", "c"]
    files = sorted(root.rglob("*.png"))
    data = FolderDataModule(
        root=str(root), image_size=16, val_split=0.2, test_split=0.2, cache=False, **AUGMENTED
    )

    def source(item: str) -> tuple[int, np.ndarray]:
        return names.index(Path(item).parent.name), decode_gray(item, (16, 16))

    counts = {"train": [12, 6, 6], "val": [4, 2, 2], "test": [4, 2, 2]}
    check_integrity(data, {str(p) for p in files}, counts, source)


def test_folder_cached(tmp_path):
    root = class_folders(tmp_path / "images", {"a": 10, "b": 10})
    files = sorted(root.rglob("*.png"))
    data = FolderDataModule(
        root=str(root), image_size=16, val_split=0.2, test_split=0.2, cache=True, **AUGMENTED
    )

    def source(item: str) -> tuple[int, np.ndarray]:
        return ["a", "b"].index(Path(item).parent.name), decode_gray(item, (16, 16))

    counts = {"train": [6, 6], "val": [2, 2], "test": [2, 2]}
    check_integrity(data, {str(p) for p in files}, counts, source)


def test_folder_with_explicit_val(tmp_path):
    class_folders(tmp_path / "train", {"a": 10, "b": 10})
    class_folders(tmp_path / "val", {"a": 3, "b": 2})
    files = sorted(tmp_path.rglob("*.png"))
    data = FolderDataModule(
        root=str(tmp_path), image_size=16, test_split=0.2, cache=False, **AUGMENTED
    )

    def source(item: str) -> tuple[int, np.ndarray]:
        return ["a", "b"].index(Path(item).parent.name), decode_gray(item, (16, 16))

    counts = {"train": [8, 8], "val": [3, 2], "test": [2, 2]}
    check_integrity(data, {str(p) for p in files}, counts, source)


def test_csv(tmp_path):
    class_folders(tmp_path / "img", {"normal": 10, "sick": 10})
    files = sorted((tmp_path / "img").rglob("*.png"))
    table = tmp_path / "list.csv"
    rows = [f"{p.relative_to(tmp_path)},{p.parent.name}\n" for p in files]
    table.write_text("path,label\n" + "".join(rows))
    data = CsvDataModule(
        csv=str(table), image_size=16, val_split=0.2, test_split=0.2, cache=False, **AUGMENTED
    )

    def source(item: str) -> tuple[int, np.ndarray]:
        return ["normal", "sick"].index(Path(item).parent.name), decode_gray(item, (16, 16))

    counts = {"train": [6, 6], "val": [2, 2], "test": [2, 2]}
    check_integrity(data, {str(p) for p in files}, counts, source)


def test_csv_groups_stay_whole_when_the_test_split_is_given(tmp_path):
    """The split column gives test (patients p12-p14); val is split off the training rows by
    `data.val_split`: no patient may cross train/val (a val split that ignores the group
    column when only val is carved puts some patient's images on both sides)."""
    names = numbered_pngs(tmp_path / "img", 45)
    patient = {f"{i}.png": f"p{i // 3}" for i in range(45)}
    rows = [(n, i // 3 % 2, "test" if i >= 36 else "", patient[f"{i}.png"])
            for i, n in enumerate(names)]  # fmt: skip
    table = write_table(tmp_path / "list.csv", "path,label,split,patient", rows)
    data = CsvDataModule(csv=str(table), image_size=16, val_split=0.25, group_column="patient",
                         cache=False, **AUGMENTED)  # fmt: skip
    data.setup("fit")
    owners = {
        name: [patient[Path(p).name] for p in s.ids]
        for name, s in (("train", data.train_set), ("val", data.val_set), ("test", data.test_set))
    }
    assert set(owners["test"]) == {"p12", "p13", "p14"} and len(owners["test"]) == 9
    assert len(set(owners["val"])) == 3 and len(owners["val"]) == 9  # 25% of the 12 patients
    crossing = set(owners["train"]) & set(owners["val"])
    assert not crossing, f"patients in train and val: {sorted(crossing)}"
    assert sum(map(len, owners.values())) == 45


def test_splits_that_cannot_be_made_are_one_line_errors():
    """Every class (or group) alone leaves nothing to stratify; one group cannot be split."""
    with (
        pytest.warns(UserWarning, match="single image"),
        pytest.raises(UserError, match=r"^data.test_split=0.2: each of the 3 item\(s\)"),
    ):
        split_indices([0, 1, 2], 0.2, 0.2, seed=0)
    with pytest.raises(UserError, match=r"^data.group_column: .* 1 group\(s\) \('p'\), too few"):
        split_indices([0, 1, 0, 1], 0.2, 0.0, seed=0, groups=["p"] * 4)
    train, val, test = split_indices([0, 1, 0, 1], 0.0, 0.0, seed=0, groups=["p"] * 4)
    assert len(train) == 4 and not len(val) and not len(test)


def test_digits():
    digits = load_digits()
    raw = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
    data = DigitsDataModule(image_size=8, val_split=0.15, test_split=0.2, **AUGMENTED)
    data.setup()
    per_class = np.bincount(digits.target)
    # the class counts stratification gives: every split within one image of its share
    counts = {
        name: torch.bincount(s.labels, minlength=10).tolist()
        for name, s in (("train", data.train_set), ("val", data.val_set), ("test", data.test_set))
    }
    for name, share in (("train", 0.65), ("val", 0.15), ("test", 0.2)):
        assert np.all(np.abs(np.array(counts[name]) - per_class * share) <= 1), name

    def source(item: str) -> tuple[int, np.ndarray]:
        return int(digits.target[int(item)]), raw[int(item)]

    check_integrity(data, {str(i) for i in range(len(raw))}, counts, source)


def write_family(raw: Path, stems: dict[str, str], sizes: dict[str, int], classes: int):
    """IDX files `<stem>-images/labels-idx?-ubyte.gz` with labels cycling through `classes`."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, stem in stems.items():
        images = rng.integers(0, 256, (sizes[split], 28, 28)).astype(np.uint8)
        labels = np.arange(sizes[split]) % classes
        write_idx(raw / f"{stem}-images-idx3-ubyte", images)
        write_idx(raw / f"{stem}-labels-idx1-ubyte", labels)
        arrays[split] = (images, labels)
    return arrays


MNIST_STEMS = {"train": "train", "test": "t10k"}


@pytest.mark.parametrize(
    ("module", "folder", "stems", "extra", "transposed"),
    [
        (MnistDataModule, "MNIST", MNIST_STEMS, {}, False),
        (FashionMnistDataModule, "FashionMNIST", MNIST_STEMS, {}, False),
        (KmnistDataModule, "KMNIST", MNIST_STEMS, {}, False),
        (
            EmnistDataModule,
            "EMNIST",
            {"train": "emnist-digits-train", "test": "emnist-digits-test"},
            {"split": "digits"},
            True,
        ),
    ],
)
def test_mnist_family(tmp_path, module, folder, stems, extra, transposed):
    arrays = write_family(tmp_path / folder / "raw", stems, {"train": 80, "test": 30}, 10)
    data = module(
        data_dir=str(tmp_path), image_size=28, val_split=0.25, download=False, **extra, **AUGMENTED
    )
    assert data.search_dirs()[0] == tmp_path / folder / "raw"  # read from here, not the system

    def source(item: str) -> tuple[int, np.ndarray]:
        split, index = item.removesuffix("]").split("[")
        images, labels = arrays[split]
        image = images[int(index)]
        return int(labels[int(index)]), image.T if transposed else image

    every = {f"train[{i}]" for i in range(80)} | {f"test[{i}]" for i in range(30)}
    counts = {"train": [6] * 10, "val": [2] * 10, "test": [3] * 10}
    check_integrity(data, every, counts, source)


def test_medmnist(tmp_path):
    sizes = {"train": 20, "val": 6, "test": 8}
    arrays = write_medmnist(tmp_path / "medmnist" / "pneumoniamnist.npz", sizes, classes=2)
    data = MedMnistDataModule(
        data_dir=str(tmp_path), subset="pneumonia", image_size=28, download=False, **AUGMENTED
    )

    def source(item: str) -> tuple[int, np.ndarray]:
        split, index = item.removesuffix("]").split("[")
        return (
            int(arrays[f"{split}_labels"][int(index), 0]),
            arrays[f"{split}_images"][int(index)],
        )

    every = {f"{split}[{i}]" for split, n in sizes.items() for i in range(n)}
    counts = {"train": [10, 10], "val": [3, 3], "test": [4, 4]}
    check_integrity(data, every, counts, source)
