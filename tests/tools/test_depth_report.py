"""inspect at full depth: the raw values, the mapping, the windows in raw units and the distinct
levels that reach the stem on the 8-bit path vs the full-depth path."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from helpers.adapt_helpers import classifier_net, data_config
from helpers.datafiles import write_16bit

from graytransfer.adapt import Windows
from graytransfer.adapt.intensity import FullRange, InputValues
from graytransfer.adapt.mapped import input_module
from graytransfer.tools.depth_report import depth_report
from graytransfer.tools.inspect import inspect


def test_report_counts_levels_and_shows_windows_in_raw_units():
    raw = torch.arange(-500, 524, dtype=torch.int16).view(1, 1, 32, 32)  # 1024 distinct HU
    values = InputValues("int16", (-1024.0, 3071.0))
    net = classifier_net("test_efficientnet")
    module = input_module(Windows(presets=["lung", "brain", "bone"]), net, data_config(net),
                          FullRange(), values)  # fmt: skip
    text = depth_report(raw, module, "full", values)
    assert "raw int16 values of 1 image(s): min -500" in text
    assert "[-600, 1500], [40, 80], [400, 1800]" in text
    eight, full = map(int, re.search(r"8-bit path (\d+), full depth (\d+)", text).groups())
    assert eight <= 256 and full == 1024


@pytest.mark.slow
def test_inspect_at_full_depth_prints_the_mapping(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        for i in range(6):
            write_16bit(tmp_path / "d" / name / f"{i}.png", 1000 + rng.integers(0, 3000, (32, 32)))
    inspect(
        [
            "model=timm", "model.name=test_efficientnet", "model.pretrained=false",
            "data=folder", f"data.root={tmp_path / 'd'}", "data.bit_depth=16",
            "data.image_size=32", "data.num_workers=0", "intensity=range", "adapt=windows",
        ],
        out=tmp_path / "png",
    )  # fmt: skip
    text = capsys.readouterr().out
    assert "raw uint16 values of 4 image(s)" in text and "LinearMap(" in text
    eight, full = map(int, re.search(r"8-bit path (\d+), full depth (\d+)", text).groups())
    assert eight <= 256 < full
