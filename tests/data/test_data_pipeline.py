"""Every data config composes; a real run writes the split record and uses class weights."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers.configs import CONF
from helpers.datafiles import class_folders
from hydra.utils import instantiate

from graytransfer.data import GrayscaleDataModule
from graytransfer.run import train

CONF_DATA = CONF / "data"


@pytest.mark.parametrize("name", sorted(p.stem for p in CONF_DATA.glob("*.yaml")))
def test_every_data_config_instantiates(make_cfg, tmp_path, name):
    extra = {
        "folder": [f"data.root={tmp_path}"],
        "csv": [f"data.csv={tmp_path / 'a.csv'}"],
        "shards": [f"data.root={tmp_path}"],
    }
    cfg = make_cfg(f"data={name}", *extra.get(name, []))
    data = instantiate(cfg.data, image_size=[16, 24])
    assert isinstance(data, GrayscaleDataModule) and data.image_size == (16, 24)
    assert "data_dir" not in cfg.data or cfg.data.data_dir == cfg.paths.data_dir


def test_folder_run_with_loss_class_weights_writes_the_split(make_cfg, tmp_path):
    root = class_folders(tmp_path / "images", {"common": 12, "rare": 4})
    cfg = make_cfg(
        "data=folder",
        f"data.root={root}",
        "data.balance=loss",
        "data.num_workers=0",
        "data.val_split=0.25",
        "data.test_split=0.25",
        "model.pretrained=false",
        "logger=none",
    )
    info = train(cfg)
    out = Path(cfg.paths.output_dir)
    record = json.loads((out / "classes.json").read_text())
    assert record["classes"] == ["common", "rare"] == info["classes"]
    assert record["counts"]["train"] == [6, 2]
    with open(out / "split.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 16
