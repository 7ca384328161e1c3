"""Shards where they meet full depth and the shard tool's overwrite: the same 16-bit or DICOM
data through a folder and through shards gives the model the same values (dtype, measured
range, DICOM window), so the same buffers and the same logits; `intensity=none` is refused for
16-bit shards as for the folder; an edited manifest stops the run; `overwrite=true` removes
only a folder the shards tool wrote."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.configs import FAST, TEST_NET, compose_config
from helpers.shard_helpers import write_full_depth_folder, write_numbered_folder
from hydra.utils import instantiate
from PIL import Image

from graytransfer.data.store.shard_manifest import MANIFEST
from graytransfer.data.store.shard_writer import convert
from graytransfer.errors import UserError
from graytransfer.model.build import build_classifier, input_values_of
from graytransfer.run import build_data

pytest.importorskip("litdata", reason="the shards extra: pip install 'graytransfer[shards]'")

SIZE = (16, 16)
#: data path -> (what to write, the folder's extra overrides, the intensity mapping)
FULL_DEPTH = {
    "png16": ("png16", ["data.bit_depth=16"], "range"),
    "dicom": ("dicom", ["data.bit_depth=16"], "dicom_window"),
}


def compose(tmp: Path, *overrides: str):
    return compose_config([*FAST, *TEST_NET, "data.num_workers=0", *overrides], tmp / "run")


def model_and_first_test_logits(cfg) -> tuple[dict, torch.Tensor, object]:
    """Build data and model exactly as a training run does (seeded), and score the first test
    batch with the untrained model."""
    data = build_data(cfg, SIZE)
    torch.manual_seed(0)
    model = build_classifier(
        cfg,
        instantiate(cfg.model),
        class_names=data.class_names,
        image_size=SIZE,
        input_values=input_values_of(data),
    ).eval()
    images, _ = next(iter(data.test_dataloader()))
    with torch.no_grad():
        logits = model(images)
    return model.state_dict(), logits, data


def convert_data(tmp: Path, folder_cfg) -> Path:
    out = tmp / "shards"
    convert(build_data(folder_cfg, SIZE), out, {"test": True}, workers=1, verbose=False)
    return out


@pytest.mark.parametrize("path", sorted(FULL_DEPTH))
def test_full_depth_through_shards_gives_the_model_what_the_folder_gives(tmp_path, path):
    if path == "dicom":
        pytest.importorskip("pydicom", reason="the dicom extra: pip install 'graytransfer[dicom]'")
    kind, extra, intensity = FULL_DEPTH[path]
    root = write_full_depth_folder(tmp_path / kind, kind)
    folder_cfg = compose(
        tmp_path, "data=folder", f"data.root={root}", *extra, f"intensity={intensity}"
    )
    folder_state, folder_logits, folder = model_and_first_test_logits(folder_cfg)
    assert folder.dtype != torch.uint8  # the data really is at full depth

    out = convert_data(tmp_path, folder_cfg)
    shard_cfg = compose(tmp_path, "data=shards", f"data.root={out}", f"intensity={intensity}")
    shard_state, shard_logits, shards = model_and_first_test_logits(shard_cfg)

    assert (shards.dtype, shards.value_range, shards.voi_window) == (
        folder.dtype,
        folder.value_range,
        folder.voi_window,
    )
    assert folder_state.keys() == shard_state.keys()
    for key, value in folder_state.items():
        assert torch.equal(value, shard_state[key]), key
    assert torch.equal(folder_logits, shard_logits)


def test_16bit_shards_without_an_intensity_mapping_are_refused_like_the_folder(tmp_path):
    root = write_full_depth_folder(tmp_path / "png16", "png16")
    folder_cfg = compose(tmp_path, "data=folder", f"data.root={root}", "data.bit_depth=16")
    out = convert_data(tmp_path, folder_cfg)
    messages = []
    for cfg in (folder_cfg, compose(tmp_path, "data=shards", f"data.root={out}")):
        with pytest.raises(UserError) as refused:
            model_and_first_test_logits(cfg)
        messages.append(str(refused.value))
    assert "uint16" in messages[0] and messages[0] == messages[1]


def test_multilabel_csv_through_shards_keeps_every_label_vector(tmp_path):
    rng = np.random.default_rng(3)
    rows = ["path,A,B,C"]
    for i in range(30):  # every label present and absent in each split; -1 (unknown) kept
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png," + ",".join(["1", "0", "-1"][(i + k) % 3] for k in range(3)))
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    columns = ["data.label_columns=[A,B,C]", "data.uncertain=ignore"]
    csv_cfg = compose(
        tmp_path, "task=multilabel", "data=csv", f"data.csv={tmp_path / 'labels.csv'}", *columns
    )
    out = convert_data(tmp_path, csv_cfg)
    source = build_data(csv_cfg, SIZE)
    shards_cfg = compose(tmp_path, "task=multilabel", "data=shards", f"data.root={out}")
    shards = build_data(shards_cfg, SIZE)
    for name in ("train", "val", "test"):
        kept, streamed = getattr(source, f"{name}_set"), getattr(shards, f"{name}_set")
        assert streamed.ids == kept.ids and torch.equal(streamed.labels, kept.labels), name
        assert streamed.labels.shape[1] == 3 and (streamed.labels == -1).any()
    images, labels = next(iter(shards.test_dataloader()))
    assert labels.dtype == torch.long and torch.equal(labels, shards.test_set.labels[: len(labels)])


def test_an_edited_manifest_image_size_stops_the_run(tmp_path):
    write_numbered_folder(tmp_path / "png", 24)
    folder_cfg = compose(tmp_path, "data=folder", f"data.root={tmp_path / 'png'}")
    out = convert_data(tmp_path, folder_cfg)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["image_size"] = [20, 20]
    (out / MANIFEST).write_text(json.dumps(manifest))
    cfg = compose(tmp_path, "data=shards", f"data.root={out}", "data.image_size=20")
    with pytest.raises(
        UserError, match=r"stored train images hold 256 uint8 pixels but manifest.json says 20x20"
    ):
        build_data(cfg, (20, 20))


def test_overwrite_removes_only_a_folder_the_shards_tool_wrote(tmp_path):
    write_numbered_folder(tmp_path / "png", 24)
    data = build_data(compose(tmp_path, "data=folder", f"data.root={tmp_path / 'png'}"), SIZE)
    out = tmp_path / "shards"
    convert(data, out, {"test": 1}, workers=1, verbose=False)
    convert(data, out, {"test": 2}, workers=1, verbose=False, overwrite=True)  # ours: replaced
    assert json.loads((out / MANIFEST).read_text())["source"] == {"test": 2}

    mine = out / "train" / "notes.txt"  # a user's file inside the shard folder
    mine.write_text("keep me")
    with pytest.raises(UserError, match=r"holds 'train/notes.txt', which the shards tool did not"):
        convert(data, out, {"test": 3}, workers=1, verbose=False, overwrite=True)
    assert mine.read_text() == "keep me" and (out / MANIFEST).is_file()

    user = tmp_path / "user"  # a user's folder named as out by mistake
    (user / "thesis").mkdir(parents=True)
    (user / "thesis" / "draft.tex").write_text("years of work")
    (user / "train").mkdir()
    with pytest.raises(UserError, match=r"holds 'thesis', which the shards tool did not write"):
        convert(data, user, {"test": 4}, workers=1, verbose=False, overwrite=True)
    assert (user / "thesis" / "draft.tex").read_text() == "years of work"

    (user / "thesis" / "draft.tex").unlink()
    (user / "thesis").rmdir()  # only an empty `train/` left: still not a shard folder
    with pytest.raises(UserError, match=r"has no manifest.json or .plan.json: the shards tool"):
        convert(data, user, {"test": 5}, workers=1, verbose=False, overwrite=True)
    assert (user / "train").is_dir()
