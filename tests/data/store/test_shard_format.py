"""The shard item format: format /2 stores each image as flat raw bytes (reading one is a copy
and a reshape) and round-trips 8- and 16-bit images bit-exactly; format /1 shards (a shaped
array per item) still read; an unknown format stops in one line naming the rewrite command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.datamodules import folder_module
from helpers.shard_helpers import write_full_depth_folder, write_numbered_folder

from graytransfer.data import ShardDataModule
from graytransfer.data.store import shard_writer
from graytransfer.data.store.shard_manifest import FORMAT, MANIFEST, READABLE
from graytransfer.data.store.shard_writer import convert
from graytransfer.errors import UserError

litdata = pytest.importorskip(
    "litdata", reason="the shards extra: pip install 'graytransfer[shards]'"
)

OLD = READABLE[0]


def source(tmp: Path, bits: int):
    """A folder module over 24 images at 16x16: 8-bit numbered PNGs or 16-bit PNGs."""
    root = tmp / f"png{bits}"
    if bits == 8:
        write_numbered_folder(root, 24)
        return folder_module(root, scan="none")
    write_full_depth_folder(root, "png16", size=16)
    return folder_module(root, bit_depth=16)


def shards_of(data, out: Path, shard_format: str = FORMAT) -> ShardDataModule:
    convert(data, out, {"test": True}, workers=1, verbose=False, shard_format=shard_format)
    shards = ShardDataModule(root=str(out), num_workers=0, batch_size=8)
    shards.setup("fit")
    return shards


def assert_same_items(shards: ShardDataModule, data) -> None:
    """Every split holds the source's images (same dtype, shape, bits) and labels, in order."""
    for name, kept in data._splits().items():
        streamed = shards._splits()[name]
        assert len(streamed) == len(kept) > 0, name
        for i in range(len(kept)):
            (image, label), (want, want_label) = streamed[i], kept[i]
            assert image.dtype == want.dtype and image.shape == want.shape, (name, i)
            assert torch.equal(image, want) and int(label) == int(want_label), (name, i)


@pytest.mark.parametrize("bits", [8, 16])
def test_format_2_stores_flat_raw_bytes_and_round_trips_bit_exactly(tmp_path, bits) -> None:
    data = source(tmp_path, bits)
    shards = shards_of(data, tmp_path / "out")
    manifest = json.loads((tmp_path / "out" / MANIFEST).read_text())
    assert manifest["format"] == FORMAT == "graytransfer-shards/2"
    config = json.loads((tmp_path / "out" / "train" / "index.json").read_text())["config"]
    assert config["data_format"][0].startswith("no_header_numpy:")  # raw bytes, no header
    raw = litdata.StreamingDataset(str(tmp_path / "out" / "train"))[0]
    assert sorted(raw) == ["image", "label"] and raw["image"].shape == (16 * 16,)
    assert str(raw["image"].dtype) == manifest["dtype"] == f"uint{bits}"
    assert_same_items(shards, data)
    images, labels = next(iter(shards.train_dataloader()))
    assert images.shape == (8, 1, 16, 16) and images.dtype == data.dtype
    assert labels.dtype == torch.long


@pytest.mark.parametrize("bits", [8, 16])
def test_format_1_shards_still_read(tmp_path, bits) -> None:
    data = source(tmp_path, bits)
    shards = shards_of(data, tmp_path / "out", shard_format=OLD)
    assert json.loads((tmp_path / "out" / MANIFEST).read_text())["format"] == OLD
    raw = litdata.StreamingDataset(str(tmp_path / "out" / "train"))[0]
    assert raw["image"].shape == (16, 16)  # the old layout really was written
    assert_same_items(shards, data)
    images, _ = next(iter(shards.train_dataloader()))
    assert images.shape == (8, 1, 16, 16) and images.dtype == data.dtype


def test_an_unknown_format_names_the_command_that_rewrites_the_shards(tmp_path) -> None:
    out = tmp_path / "out"
    convert(source(tmp_path, 8), out, {"test": True}, workers=1, verbose=False)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["format"] = "graytransfer-shards/0"
    (out / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(UserError) as err:
        ShardDataModule(root=str(out), num_workers=0)
    message = str(err.value)
    assert "\n" not in message and "'graytransfer-shards/0'" in message
    assert "python -m graytransfer.tools.shards" in message


def test_a_conversion_resumes_only_in_the_format_it_began_with(tmp_path, monkeypatch) -> None:
    """A format /1 conversion interrupted before its manifest (its plan records the format) is
    not continued in format /2, which would mix the two layouts under one manifest."""
    data = source(tmp_path, 8)
    out = tmp_path / "out"

    def interrupted(*args) -> None:
        raise RuntimeError("planted interruption")

    with monkeypatch.context() as patch:
        patch.setattr(shard_writer, "write_split_file", interrupted)
        with pytest.raises(RuntimeError, match="planted"):
            convert(data, out, {"test": True}, workers=1, verbose=False, shard_format=OLD)
    assert (out / shard_writer.PLAN).is_file() and not (out / MANIFEST).exists()
    with pytest.raises(UserError, match="unfinished conversion of another config"):
        convert(data, out, {"test": True}, workers=1, verbose=False)
