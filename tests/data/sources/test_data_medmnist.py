"""MedMNIST from `.npz` files the test writes in the project's real format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from graytransfer.data import MedMnistDataModule
from graytransfer.data.sources.medmnist import npz_name, read_medmnist_npz
from graytransfer.errors import UserError


def write_npz(path, n=(20, 6, 8), size=28, classes=2, rgb=False, multilabel=False):
    rng = np.random.default_rng(1)
    arrays = {}
    for split, count in zip(("train", "val", "test"), n, strict=True):
        shape = (count, size, size, 3) if rgb else (count, size, size)
        arrays[f"{split}_images"] = rng.integers(0, 256, shape).astype(np.uint8)
        labels = (np.arange(count) % classes).reshape(-1, 1).astype(np.uint8)
        arrays[f"{split}_labels"] = np.repeat(labels, 14, axis=1) if multilabel else labels
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **arrays)
    return arrays


def test_official_splits_and_resize(tmp_path):
    arrays = write_npz(tmp_path / "medmnist" / "pneumoniamnist.npz")
    data = MedMnistDataModule(data_dir=str(tmp_path), subset="pneumonia", image_size=32,
                              download=False, train_subset=10)  # fmt: skip
    data.prepare_data()
    data.setup()
    assert data.class_names == ["normal", "pneumonia"]
    assert [len(data.train_set), len(data.val_set), len(data.test_set)] == [10, 6, 8]
    assert torch.bincount(data.train_set.labels).tolist() == [5, 5]
    assert tuple(data.val_set.images.shape) == (6, 1, 32, 32)
    same = MedMnistDataModule(data_dir=str(tmp_path), image_size=28, download=False)
    same.setup()
    assert np.array_equal(same.test_set.images[:, 0].numpy(), arrays["test_images"])
    assert same.test_set.labels.tolist() == arrays["test_labels"].ravel().tolist()


def test_larger_sizes_use_medmnist_plus_names(tmp_path):
    assert npz_name("organamnist", 28) == "organamnist.npz"
    assert npz_name("organamnist", 64) == "organamnist_64.npz"
    write_npz(tmp_path / "medmnist" / "organamnist_64.npz", size=64, classes=11, n=(22, 11, 11))
    data = MedMnistDataModule(data_dir=str(tmp_path), subset="organ_a", size=64, image_size=64,
                              download=False)  # fmt: skip
    data.setup()
    assert len(data.class_names) == 11 and data.class_names[3] == "heart"
    assert tuple(data.train_set.images.shape) == (22, 1, 64, 64)


def test_rgb_npz_becomes_luminance(tmp_path):
    arrays = write_npz(tmp_path / "x.npz", rgb=True)
    train_images, _ = read_medmnist_npz(tmp_path / "x.npz")["train"]
    expected = np.rint(arrays["train_images"].astype(np.float32) @ [0.299, 0.587, 0.114])
    assert np.abs(train_images.astype(int) - expected).max() <= 1


def test_missing_file_offline_says_where_and_what(tmp_path):
    data = MedMnistDataModule(data_dir=str(tmp_path), subset="breast", size=128, download=False)
    with pytest.raises(UserError) as err:
        data.setup()
    message = str(err.value)
    assert "breastmnist_128.npz" in message and str(tmp_path / "medmnist") in message
    assert "363e4b3f8d712e9b5de15470a2aaadf1" in message  # the MD5 to check it against


def test_bad_choices_and_files(tmp_path):
    with pytest.raises(UserError, match="grayscale 2D MedMNIST subset"):
        MedMnistDataModule(data_dir=str(tmp_path), subset="derma")
    with pytest.raises(UserError, match="data.size"):
        MedMnistDataModule(data_dir=str(tmp_path), size=32)
    (tmp_path / "junk.npz").write_bytes(b"PK not really")
    with pytest.raises(UserError, match="not a usable MedMNIST file"):
        read_medmnist_npz(tmp_path / "junk.npz")


def test_chestmnist_multilabel_file_loads_as_a_label_matrix(tmp_path):
    """ChestMNIST's (N, 14) 0/1 labels stay a label matrix; a subset keeps every label present
    (iterative stratification); a file whose labels are not 0/1 names the file."""
    rng = np.random.default_rng(0)
    arrays = {}
    for split, count in (("train", 60), ("val", 20), ("test", 20)):
        arrays[f"{split}_images"] = rng.integers(0, 256, (count, 28, 28)).astype(np.uint8)
        labels = (rng.random((count, 14)) < 0.3).astype(np.uint8)
        labels[:14] |= np.eye(14, dtype=np.uint8)[: min(14, count)]  # every label occurs
        arrays[f"{split}_labels"] = labels
    path = tmp_path / "medmnist" / "chestmnist.npz"
    path.parent.mkdir(parents=True)
    np.savez_compressed(path, **arrays)
    data = MedMnistDataModule(data_dir=str(tmp_path), subset="chest", image_size=28,
                              download=False, train_subset=30)  # fmt: skip
    data.setup()
    assert data.class_names[:2] == ["atelectasis", "cardiomegaly"] and data.num_classes == 14
    assert tuple(data.train_set.labels.shape) == (30, 14)
    assert (data.train_set.labels.sum(0) > 0).all()  # stratified: no label lost in the subset
    assert data.test_set.labels.tolist() == arrays["test_labels"].tolist()
    image, label = data.val_set[0]
    assert image.dtype == torch.uint8 and tuple(label.shape) == (14,)
    arrays["val_labels"][0, 0] = 2
    np.savez_compressed(path, **arrays)
    with pytest.raises(UserError, match=r"val_labels \[20, 14\] are not 0/1"):
        MedMnistDataModule(data_dir=str(tmp_path), subset="chest", download=False).setup()
