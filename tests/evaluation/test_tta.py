"""Test-time augmentation (graytransfer.evaluation.tta): `eval.tta=[hflip]` averages the
probabilities of the image and its mirror; an unknown augmentation is one line naming the known
ones; the tools' configs carry the key (none by default) and predict applies it."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers.checkpoint_files import gray_images, write_checkpoint
from helpers.datafiles import write_digits
from helpers.trained_fixture import compose_task
from PIL import Image

from graytransfer.errors import UserError
from graytransfer.evaluation.tta import tta_of, tta_views, without_tta
from graytransfer.model.restore import load_trained
from graytransfer.run.checkpoints import load_model
from graytransfer.tools.predict import run as predict


def test_hflip_and_vflip_average_the_flipped_views(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    plain = load_trained(ckpt).model
    batch = gray_images()
    with torch.no_grad():
        p = plain.task.probabilities(plain(batch))
        h = plain.task.probabilities(plain(batch.flip(-1)))
        v = plain.task.probabilities(plain(batch.flip(-2)))
        assert not torch.allclose(p, h, atol=1e-4)  # the views differ: averaging shows
        flipped = load_model(ckpt, ["hflip"])
        torch.testing.assert_close(flipped.model.probabilities(batch), (p + h) / 2)
        both = load_model(ckpt, ["hflip", "vflip"])
        torch.testing.assert_close(both.model.probabilities(batch), (p + h + v) / 3)
    assert flipped.thresholds_from is None and flipped.describe()["tta"] == ["hflip"]


def test_an_unknown_augmentation_is_one_line_listing_the_known_ones() -> None:
    with pytest.raises(UserError) as caught:
        tta_views(["hflip", "rotate90"])
    assert str(caught.value).startswith("eval.tta: 'rotate90' is not a known augmentation")
    assert "hflip, vflip" in str(caught.value)
    assert tta_views(None) == [] and tta_views(["hflip", "hflip"]) == ["hflip"]


def test_the_tools_configs_hold_eval_tta_empty_and_the_bootstrap_never_sees_it(
    tmp_path: Path,
) -> None:
    for tool, args in (("evaluate", ["ckpt_path=x"]), ("predict", ["ckpt_path=x", "input=y"])):
        assert tta_of(compose_task(tool, [*args, "eval.tta=[hflip]"], tmp_path)) == ["hflip"]
        assert tta_of(compose_task(tool, args, tmp_path)) == []
    cfg = compose_task("evaluate", ["ckpt_path=x"], tmp_path)
    assert "tta" not in without_tta(cfg.eval) and without_tta(cfg.eval).bootstrap == 1000


def test_predict_with_tta_writes_the_averaged_probabilities(tmp_path: Path) -> None:
    ckpt = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    paths = write_digits(tmp_path / "images", 4, 16)
    out = tmp_path / "out.csv"
    overrides = [f"ckpt_path={ckpt}", f"input={tmp_path / 'images'}", f"output={out}"]
    predict(compose_task("predict", [*overrides, "eval.tta=[hflip]"], tmp_path / "p"))
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    model = load_model(ckpt, ["hflip"]).model
    read = [Path(r["path"]) for r in rows]
    assert sorted(read) == sorted(paths)
    pixels = np.stack([np.asarray(Image.open(p)) for p in read])
    with torch.no_grad():
        expected = model.probabilities(torch.from_numpy(pixels).unsqueeze(1))
    got = torch.tensor([[float(r[f"prob_{c}"]) for c in map(str, range(10))] for r in rows])
    torch.testing.assert_close(got, expected, atol=2e-6, rtol=0)
