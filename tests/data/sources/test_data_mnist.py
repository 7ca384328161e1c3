"""The MNIST family from IDX files: written by the test in torchvision's layout, and the real
Fashion-MNIST that Debian's dataset-fashion-mnist package installs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datafiles import write_idx

from graytransfer.data import EmnistDataModule, FashionMnistDataModule, MnistDataModule
from graytransfer.data.decode.idx import read_idx
from graytransfer.data.sources.mnist import DEBIAN_FASHION_MNIST, KmnistDataModule
from graytransfer.errors import UserError


def fake_set(raw: Path, prefix: dict[str, str], n: dict[str, int], classes: int, compress: bool,
             offset: int = 0) -> dict[str, np.ndarray]:  # fmt: skip
    rng = np.random.default_rng(0)
    arrays = {}
    for split, stem in prefix.items():
        images = rng.integers(0, 256, (n[split], 28, 28)).astype(np.uint8)
        labels = (np.arange(n[split]) % classes + offset).astype(np.uint8)
        write_idx(raw / f"{stem}-images-idx3-ubyte", images, compress)
        write_idx(raw / f"{stem}-labels-idx1-ubyte", labels, compress)
        arrays[split] = images
    return arrays


MNIST_STEMS = {"train": "train", "test": "t10k"}


@pytest.mark.parametrize("compress", [False, True])
def test_torchvision_layout_plain_and_gz(tmp_path, compress):
    arrays = fake_set(tmp_path / "MNIST" / "raw", MNIST_STEMS, {"train": 50, "test": 20}, 10,
                      compress)  # fmt: skip
    data = MnistDataModule(data_dir=str(tmp_path), image_size=28, val_split=0.2, download=False)
    data.prepare_data()
    data.setup()
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [40, 10, 20]
    assert torch.bincount(data.val_set.labels).tolist() == [1] * 10
    first = int(data.test_set.ids[0].removeprefix("test[").removesuffix("]"))
    assert np.array_equal(data.test_set[0][0][0].numpy(), arrays["test"][first])
    assert data.class_names == [str(d) for d in range(10)]


def test_kmnist_resized_once_non_square(tmp_path):
    fake_set(tmp_path / "KMNIST" / "raw", MNIST_STEMS, {"train": 40, "test": 10}, 10, True)
    data = KmnistDataModule(data_dir=str(tmp_path), image_size=[32, 40], val_split=0.25,
                            download=False)  # fmt: skip
    data.setup()
    assert tuple(data.train_set.images.shape) == (30, 1, 32, 40)
    assert data.train_set.images.dtype == torch.uint8
    assert data.class_names[:3] == ["o", "ki", "su"]


def test_emnist_letters_are_upright_and_relabelled(tmp_path):
    raw = tmp_path / "EMNIST" / "raw"
    stems = {"train": "emnist-letters-train", "test": "emnist-letters-test"}
    arrays = fake_set(raw, stems, {"train": 52, "test": 26}, 26, False, offset=1)
    data = EmnistDataModule(data_dir=str(tmp_path), split="letters", val_split=0.0,
                            download=False)  # fmt: skip
    data.setup()
    assert data.class_names[0] == "a" and len(data.class_names) == 26
    assert data.test_set.labels.min() == 0 and data.test_set.labels.max() == 25
    assert np.array_equal(data.test_set[0][0][0].numpy(), arrays["test"][0].T)
    with pytest.raises(UserError, match="data.split"):
        EmnistDataModule(data_dir=str(tmp_path), split="greek")


def test_missing_files_offline_say_which_and_where(tmp_path):
    data = MnistDataModule(data_dir=str(tmp_path), download=False)
    data.prepare_data()  # nothing to do without download
    with pytest.raises(UserError) as err:
        data.setup()
    message = str(err.value)
    assert "train-images-idx3-ubyte[.gz]" in message and "t10k-labels-idx1-ubyte[.gz]" in message
    assert str(tmp_path / "MNIST" / "raw") in message and "data.download=true" in message


def test_corrupt_idx_files_are_user_errors(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x08\x03\x00\x00\x00\x05")
    with pytest.raises(UserError, match="bad header|truncated"):
        read_idx(tmp_path / "bad")
    write_idx(tmp_path / "x", np.zeros((4, 3, 3), np.uint8), compress=True)
    (tmp_path / "x.gz").write_bytes((tmp_path / "x.gz").read_bytes()[:20])
    with pytest.raises(UserError, match="cannot be read|truncated"):
        read_idx(tmp_path / "x.gz")


@pytest.mark.skipif(
    not (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file(),
    reason="needs Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)",
)
def test_real_fashion_mnist_from_debian_offline(tmp_path):
    data = FashionMnistDataModule(data_dir=str(tmp_path), image_size=32, val_split=0.1,
                                  train_subset=1000, val_subset=200, seed=3)  # fmt: skip
    data.prepare_data()  # finds the Debian files: no download
    data.setup()
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [1000, 200, 10000]
    assert torch.bincount(data.train_set.labels).tolist() == [100] * 10
    assert torch.bincount(data.test_set.labels).tolist() == [1000] * 10
    assert data.class_names[9] == "Ankle boot"
    raw = read_idx(DEBIAN_FASHION_MNIST / "train-labels-idx1-ubyte.gz")
    assert raw.shape == (60000,) and raw[0] == 9  # the benchmark's first image is an ankle boot
    assert set(data.train_set.ids).isdisjoint(data.val_set.ids)
    assert tuple(data.train_set.images.shape) == (1000, 1, 32, 32)


def test_in_memory_sets_augment_the_training_split_only(tmp_path):
    from graytransfer.data.base import default_workers

    fake_set(tmp_path / "MNIST" / "raw", MNIST_STEMS, {"train": 40, "test": 10}, 10, True)
    plain = MnistDataModule(data_dir=str(tmp_path), val_split=0.25, download=False)
    augmented = MnistDataModule(data_dir=str(tmp_path), val_split=0.25, download=False,
                                augment="strong")  # fmt: skip
    assert plain.num_workers == 0 and augmented.num_workers == default_workers()
    plain.setup()
    augmented.setup()
    torch.manual_seed(0)
    assert not torch.equal(augmented.train_set[0][0], plain.train_set[0][0])
    assert torch.equal(augmented.test_set[0][0], plain.test_set[0][0])


def test_sets_too_large_to_resize_once_resize_per_image_alike(tmp_path, monkeypatch):
    import graytransfer.data.sources.array_base as arrays

    fake_set(tmp_path / "MNIST" / "raw", MNIST_STEMS, {"train": 40, "test": 10}, 10, True)
    kwargs = {"data_dir": str(tmp_path), "image_size": [40, 36], "val_split": 0.25}
    once = MnistDataModule(download=False, **kwargs)
    once.setup()
    monkeypatch.setattr(arrays, "RESIZE_ONCE_BYTES", 1000)
    lazy = MnistDataModule(download=False, **kwargs)
    lazy.setup()
    assert once.resize_once and not lazy.resize_once
    assert tuple(lazy.train_set.images.shape[-2:]) == (28, 28)  # kept at the stored size
    assert lazy.num_workers == arrays.default_workers()
    for i in (0, 5):
        assert torch.equal(lazy.test_set[i][0], once.test_set[i][0])
    assert next(iter(lazy.test_dataloader()))[0].shape[1:] == (1, 40, 36)


def test_fashion_mnist_in_data_dir_comes_before_the_system_copy(tmp_path):
    arrays = fake_set(tmp_path / "FashionMNIST" / "raw", MNIST_STEMS, {"train": 30, "test": 10},
                      10, True)  # fmt: skip
    data = FashionMnistDataModule(data_dir=str(tmp_path), val_split=1 / 3, download=False)
    data.prepare_data()
    data.setup()
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [20, 10, 10]
    assert np.array_equal(data.test_set.images[:, 0].numpy(), arrays["test"])
    assert data.class_names[0] == "T-shirt/top"
