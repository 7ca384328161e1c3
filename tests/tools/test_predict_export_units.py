"""Fast twins of the slow predict and export tests (tools/test_predict.py, test_export.py): the
same checks on a real checkpoint written without training (helpers.checkpoint_files: timm's
test EfficientNet at 16x16, seeded weights), so no run is needed."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.checkpoint_files import gray_images, write_checkpoint
from helpers.datafiles import write_digits, write_digits_with_bad_files
from helpers.exports import check_export
from helpers.trained_fixture import compose_task
from PIL import Image

from graytransfer.errors import UserError
from graytransfer.model.restore import load_trained
from graytransfer.tools import export, predict


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "model.ckpt", seed=5)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def predict_rows(checkpoint: Path, source: Path, out: Path, *extra: str) -> list[dict[str, str]]:
    cfg = compose_task(
        "predict",
        [f"ckpt_path={checkpoint}", f"input={source}", f"output={out}", *extra],
        out.parent,
    )
    return rows(predict.run(cfg))


def test_predict_writes_the_models_probabilities_for_a_folder_a_list_and_one_file(
    checkpoint: Path, tmp_path: Path
) -> None:
    trained = load_trained(checkpoint)
    paths = write_digits(tmp_path / "images", 6, 16)
    images = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in paths])).unsqueeze(1)
    with torch.no_grad():
        probabilities = trained.model(images).softmax(dim=-1)
    expected = [trained.class_names[i] for i in probabilities.argmax(dim=-1).tolist()]
    names = [f"prob_{c}" for c in trained.class_names]

    found = predict_rows(checkpoint, tmp_path / "images", tmp_path / "folder.csv")
    assert [Path(r["path"]) for r in found] == paths
    assert [r["label"] for r in found] == expected and list(found[0]) == ["path", "label", *names]
    got = torch.tensor([[float(r[n]) for n in names] for r in found])
    assert torch.allclose(got, probabilities, atol=1e-6)

    listing = tmp_path / "images" / "list.csv"  # paths relative to the list's folder
    listing.write_text("path\n" + "\n".join(p.name for p in paths[:3]) + "\n")
    listed = predict_rows(checkpoint, listing, tmp_path / "list.csv")
    assert [r["label"] for r in listed] == expected[:3]
    one = predict_rows(checkpoint, paths[4], tmp_path / "one.csv")
    assert [r["label"] for r in one] == [expected[4]]


def test_predict_skips_bad_files_naming_each_and_fails_when_none_is_read(
    checkpoint: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "images"
    paths, broken = write_digits_with_bad_files(folder, 3, 16)
    with pytest.warns(UserWarning) as record:
        found = predict_rows(checkpoint, folder, tmp_path / "a" / "out.csv")
    assert [Path(r["path"]) for r in found] == paths  # every readable image, no hidden one
    skipped = sorted(str(w.message) for w in record if "predict: skipped" in str(w.message))
    assert len(skipped) == 2 and all("\n" not in line for line in skipped)
    assert f"'{broken}' cannot be read" in skipped[0]
    assert f"'{folder / 'gone.png'}' is a dangling symlink" in skipped[1]
    with pytest.raises(UserError, match=r"^input: 2 bad file\(s\) in .*broken\.png.*gone\.png"):
        predict_rows(checkpoint, folder, tmp_path / "b" / "out.csv", "on_bad_file=error")
    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"nothing")
    with pytest.raises(UserError, match=r"^input: none of the 1 image\(s\) .* could be read"):
        predict_rows(checkpoint, only_bad, tmp_path / "c" / "out.csv")


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_the_export_takes_uint8_and_gives_the_checkpoints_logits(
    checkpoint: Path, tmp_path: Path, fmt: str
) -> None:
    path = export.run(
        compose_task("export", [f"ckpt_path={checkpoint}", f"format={fmt}"], tmp_path)
    )
    trained = load_trained(checkpoint)
    images = gray_images(16, 5, seed=7)
    check_export(path, trained, fmt, images, outputs=10)
