"""predict: images (a folder, one file, a CSV list) -> CSV of path, label, probabilities."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.datafiles import write_digits, write_digits_with_bad_files
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture
from PIL import Image

from graytransfer.errors import UserError
from graytransfer.model.restore import load_trained
from graytransfer.tools.predict import run


def pixels(paths: list[Path]) -> torch.Tensor:
    """The images at `paths`, as uint8 (N, 1, H, W)."""
    return torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in paths])).unsqueeze(1)


def read_row_dicts(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
def test_predict_on_a_folder_writes_the_models_labels(trained_run, tmp_path: Path) -> None:  # noqa: F811
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    trained = load_trained(best)
    assert trained.image_size == (16, 16)
    paths = write_digits(tmp_path / "images", 12, 16)
    images = pixels(paths)
    with torch.no_grad():
        probabilities = trained.model(images).softmax(dim=-1)
    expected = [trained.class_names[i] for i in probabilities.argmax(dim=-1).tolist()]

    cfg = compose_task("predict", [f"ckpt_path={best}", f"input={tmp_path / 'images'}"], tmp_path)
    rows = read_row_dicts(run(cfg))
    assert [Path(r["path"]) for r in rows] == paths
    assert [r["label"] for r in rows] == expected
    names = [f"prob_{c}" for c in trained.class_names]
    assert list(rows[0]) == ["path", "label", *names]
    got = torch.tensor([[float(r[n]) for n in names] for r in rows])
    assert torch.allclose(got, probabilities, atol=1e-6)

    # a CSV list (relative paths) and a single image give the same answers
    listing = tmp_path / "images" / "list.csv"
    listing.write_text("path\n" + "\n".join(p.name for p in paths[:3]) + "\n")
    out = tmp_path / "from_csv.csv"
    cfg = compose_task(
        "predict", [f"ckpt_path={best}", f"input={listing}", f"output={out}"], tmp_path
    )
    assert [r["label"] for r in read_row_dicts(run(cfg))] == expected[:3]
    out = tmp_path / "one.csv"
    cfg = compose_task(
        "predict", [f"ckpt_path={best}", f"input={paths[5]}", f"output={out}"], tmp_path
    )
    assert [r["label"] for r in read_row_dicts(run(cfg))] == [expected[5]]


@pytest.mark.slow
def test_predict_skips_bad_files_naming_each_and_fails_only_when_none_is_read(
    trained_run,  # noqa: F811
    tmp_path: Path,
) -> None:
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    folder = tmp_path / "images"
    paths, broken = write_digits_with_bad_files(folder, 4, 16)

    cfg = compose_task("predict", [f"ckpt_path={best}", f"input={folder}"], tmp_path / "a")
    with pytest.warns(UserWarning) as record:
        rows = read_row_dicts(run(cfg))
    assert [Path(r["path"]) for r in rows] == paths  # every readable image, no hidden one
    skipped = sorted(str(w.message) for w in record if "predict: skipped" in str(w.message))
    assert len(skipped) == 2 and all("\n" not in line for line in skipped)
    assert f"'{broken}' cannot be read" in skipped[0]
    assert f"'{folder / 'gone.png'}' is a dangling symlink" in skipped[1]

    cfg = compose_task(
        "predict", [f"ckpt_path={best}", f"input={folder}", "on_bad_file=error"], tmp_path / "b"
    )
    with pytest.raises(UserError, match=r"^input: 2 bad file\(s\) in .*broken\.png.*gone\.png"):
        run(cfg)

    listing = tmp_path / "list.csv"
    listing.write_text(f"path\n{paths[1]}\nmissing.png\n")
    cfg = compose_task("predict", [f"ckpt_path={best}", f"input={listing}"], tmp_path / "d")
    with pytest.warns(UserWarning, match=r"skipped '.*missing\.png' is listed in .* not exist"):
        assert [Path(r["path"]) for r in read_row_dicts(run(cfg))] == [paths[1]]

    only_bad = tmp_path / "only_bad"
    only_bad.mkdir()
    (only_bad / "x.png").write_bytes(b"nothing")
    cfg = compose_task("predict", [f"ckpt_path={best}", f"input={only_bad}"], tmp_path / "c")
    with pytest.raises(UserError, match=r"^input: none of the 1 image\(s\) .* could be read"):
        run(cfg)


def test_output_is_never_a_users_file_or_a_folder_and_an_earlier_csv_is_replaced(
    trained_run,  # noqa: F811
    tmp_path: Path,
) -> None:
    """`output=` an existing folder crashed (IsADirectoryError) and `output=` a user's file was
    overwritten: both are one-line refusals before any work, and the user's file is unchanged;
    an earlier predictions CSV is replaced whole."""
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    write_digits(tmp_path / "images", 4, 16)
    users = tmp_path / "notes.csv"
    users.write_text("patient,comment\n7,keep me\n")

    def predict_to(output: Path) -> Path:
        overrides = [f"ckpt_path={best}", f"input={tmp_path / 'images'}", f"output={output}"]
        return run(compose_task("predict", overrides, tmp_path))

    with pytest.raises(UserError, match=f"output: '{users}' exists and is not a predictions CSV"):
        predict_to(users)
    assert users.read_text() == "patient,comment\n7,keep me\n"
    folder = tmp_path / "results"
    folder.mkdir()
    with pytest.raises(UserError, match="is a folder: give a file path, e.g. output=.*predictions"):
        predict_to(folder)
    assert list(folder.iterdir()) == []

    earlier = tmp_path / "earlier.csv"
    earlier.write_text("path,label,prob_0\nold.png,0,1.0\n")  # what an earlier predict wrote
    assert len(read_row_dicts(predict_to(earlier))) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp left
