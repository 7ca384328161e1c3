"""LitData shards: conversion (interrupted and resumed), the manifest, reading, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.configs import REPO, child_env
from helpers.shard_helpers import ids_of, numbered_module, write_numbered_folder

from graytransfer.data import DigitsDataModule, ShardDataModule
from graytransfer.data.store.shard_manifest import MANIFEST
from graytransfer.data.store.shard_writer import convert
from graytransfer.errors import UserError


def all_items(split) -> tuple[torch.Tensor, torch.Tensor]:
    items = [split[i] for i in range(len(split))]
    return torch.stack([x for x, _ in items]), torch.stack([y for _, y in items])


def checkpointed_chunks(split: Path) -> list[str]:
    """The chunk files LitData's per-worker checkpoints (`.checkpoints/checkpoint-<rank>.json`)
    record as finished."""
    return [
        chunk["filename"]
        for path in sorted((split / ".checkpoints").glob("checkpoint-*.json"))
        for chunk in json.loads(path.read_text())["chunks"]
    ]


@pytest.fixture(scope="module")
def resumed_conversion(tmp_path_factory) -> dict:
    """160 numbered PNGs -> shards; the first conversion fails at train item 50, the same call
    again resumes it."""
    base = tmp_path_factory.mktemp("shards")
    write_numbered_folder(base / "png", 160)
    data = numbered_module(base / "png")
    out = base / "out"
    source = {"data": "numbered", "image_size": [16, 16]}
    script = (
        "from helpers.shard_helpers import convert_until_failure; "
        f"convert_until_failure({str(base / 'png')!r}, {str(out)!r}, {json.dumps(source)!r})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], cwd=REPO, env=child_env(base), stdout=subprocess.PIPE,
        text=True, start_new_session=True,
    )  # fmt: skip
    try:
        child.wait(timeout=300)
    finally:  # LitData's helper processes of the failed run: killed with their group
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
    output = child.stdout.read()
    assert "interrupted" in output
    assert not (out / MANIFEST).exists()
    before = {  # chunks LitData's checkpoints record as done; a chunk a worker wrote just
        # before it was killed, with no checkpoint after it yet, is rightly written again
        name: (out / "train" / name).stat().st_mtime_ns
        for name in checkpointed_chunks(out / "train")
    }
    convert(data, out, source, workers=2, chunk_size=8, verbose=False)
    return {"out": out, "data": data, "before": before}


def test_interrupted_conversion_resumes_and_holds_each_image_once(resumed_conversion) -> None:
    out, data = resumed_conversion["out"], resumed_conversion["data"]
    assert resumed_conversion["before"], "nothing was written before the interruption"
    index = json.loads((out / "train" / "index.json").read_text())
    listed = {c["filename"] for c in index["chunks"]}
    for name, mtime in resumed_conversion[
        "before"
    ].items():  # resumed: earlier chunks kept, not redone
        assert name in listed and (out / "train" / name).stat().st_mtime_ns == mtime
    shards = ShardDataModule(root=str(out), num_workers=0)
    shards.setup("fit")
    for split in ("train", "val", "test"):
        source, stored = getattr(data, f"{split}_set"), getattr(shards, f"{split}_set")
        assert stored.ids == source.ids and torch.equal(stored.labels, source.labels)
        images, labels = all_items(stored)
        expected_images, expected_labels = all_items(source)
        assert torch.equal(images, expected_images) and torch.equal(labels, expected_labels)
        ids = ids_of(images)
        assert sorted(ids) == sorted(int(Path(p).stem) for p in source.ids)


def test_manifest_records_counts_classes_size_dtype_and_checksums(resumed_conversion) -> None:
    manifest = json.loads((resumed_conversion["out"] / MANIFEST).read_text())
    data = resumed_conversion["data"]
    assert manifest["classes"] == ["c0", "c1"] and manifest["image_size"] == [16, 16]
    assert manifest["dtype"] == "uint8"
    for split, dataset in data._splits().items():
        record = manifest["splits"][split]
        assert record["count"] == len(dataset)
        assert record["class_counts"] == torch.bincount(dataset.labels, minlength=2).tolist()
        assert all(len(c["sha256"]) == 64 for c in record["chunks"].values())
    assert manifest["source"] == {"data": "numbered", "image_size": [16, 16]}
    assert (
        not list(resumed_conversion["out"].rglob(".checkpoints"))
        and not (resumed_conversion["out"] / ".plan.json").exists()
    )


def test_train_loader_streams_every_training_image_once_shuffled(resumed_conversion) -> None:
    shards = ShardDataModule(root=str(resumed_conversion["out"]), batch_size=16, num_workers=0)
    shards.setup("fit")
    epochs = [[i for x, _ in shards.train_dataloader() for i in ids_of(x)] for _ in range(2)]
    expected = sorted(int(Path(p).stem) for p in shards.train_set.ids)
    assert sorted(epochs[0]) == expected and sorted(epochs[1]) == expected
    assert epochs[0] != expected  # shuffled
    val = [i for x, _ in shards.val_dataloader() for i in ids_of(x)]
    assert sorted(val) == sorted(int(Path(p).stem) for p in shards.val_set.ids)


def test_digits_convert_keeps_the_modules_own_split(tmp_path: Path) -> None:
    data = DigitsDataModule(image_size=16, seed=5)
    data.setup("fit")
    convert(data, tmp_path / "digits", {"data": "digits"}, workers=1, verbose=False)
    shards = ShardDataModule(root=str(tmp_path / "digits"), image_size=16, num_workers=0)
    shards.setup("fit")
    assert shards.class_names == data.class_names
    for split in ("train", "val", "test"):
        source, stored = getattr(data, f"{split}_set"), getattr(shards, f"{split}_set")
        assert stored.ids == source.ids
        assert torch.equal(all_items(stored)[0], source.images)


def copy_of(resumed_conversion, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(resumed_conversion["out"], root)
    return root


def test_a_corrupt_chunk_is_named(resumed_conversion, tmp_path: Path) -> None:
    root = copy_of(resumed_conversion, tmp_path)
    chunk = sorted((root / "val").glob("chunk-*.bin"))[0]
    raw = bytearray(chunk.read_bytes())
    raw[-1] ^= 0xFF  # same size, one pixel changed
    chunk.write_bytes(bytes(raw))
    with pytest.raises(UserError, match=rf"shard chunk '{chunk}' is corrupt: its SHA-256"):
        ShardDataModule(root=str(root), num_workers=0).setup("fit")


def test_a_missing_chunk_is_named(resumed_conversion, tmp_path: Path) -> None:
    root = copy_of(resumed_conversion, tmp_path)
    chunk = sorted((root / "train").glob("chunk-*.bin"))[-1]
    chunk.unlink()
    with pytest.raises(UserError, match=rf"shard chunk '{chunk}' is missing"):
        ShardDataModule(root=str(root), num_workers=0).setup("fit")


def test_a_manifest_disagreeing_with_the_config_is_one_line(resumed_conversion) -> None:
    root = str(resumed_conversion["out"])
    with pytest.raises(UserError, match=r"data.image_size \[32, 32\] differs from the shards' "):
        ShardDataModule(root=root, image_size=32).setup("fit")
    with pytest.raises(UserError, match=r"data.classes \['c1', 'c0'\] differs"):
        ShardDataModule(root=root, classes=["c1", "c0"]).setup("fit")


def test_an_unfinished_or_foreign_folder_is_refused(resumed_conversion, tmp_path: Path) -> None:
    root = copy_of(resumed_conversion, tmp_path)
    (root / MANIFEST).unlink()
    with pytest.raises(UserError, match="no manifest.json: it is not a finished shard folder"):
        ShardDataModule(root=str(root)).setup("fit")
    with pytest.raises(UserError, match="another config"):
        (root / ".plan.json").write_text("{}")
        convert(resumed_conversion["data"], root, {"other": 1}, workers=1, verbose=False)


def test_a_remote_root_without_credentials_is_one_line(monkeypatch, tmp_path: Path) -> None:
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(UserError, match=r"'s3://bucket/shards' needs s3 credentials and none"):
        ShardDataModule(root="s3://bucket/shards")
    with pytest.raises(UserError, match="'ftp://' is not supported"):
        ShardDataModule(root="ftp://host/shards")


def test_without_litdata_the_data_package_imports_and_shards_say_how_to_install(
    monkeypatch,
) -> None:
    import sys

    from graytransfer.data.store.shard_remote import litdata

    monkeypatch.setitem(sys.modules, "litdata", None)  # what `import litdata` sees uninstalled
    with pytest.raises(UserError, match=r"pip install 'graytransfer\[shards\]'"):
        litdata()
