"""`python -m graytransfer.tools.inspect`: the real Hydra tree, on a tiny real model."""

from __future__ import annotations

import pytest
import timm
import torch
from PIL import Image

from graytransfer.adapt import Repeat, Sum
from graytransfer.adapt.base import adapted_copy
from graytransfer.config import compose
from graytransfer.model import weights as W
from graytransfer.model.backbone import Backbone
from graytransfer.tools import inspect as gi

TINY = [
    "model.name=test_efficientnet",
    "model.tag=null",
    "model.pretrained=false",
    "model.weights=null",
]
THREE_CHANNEL = {"adapter", "colormap", "keras", "repeat", "stack", "windows"}


def test_inspect_explains_a_model_and_a_stem_strategy(tmp_path, capsys):
    result = gi.inspect([*TINY, "adapt=fold", "data.image_size=[16,20]"], out=tmp_path, layers=6)
    text = capsys.readouterr().out
    assert "adapt=fold" in text and "input 1x16x20 uint8" in text
    assert "never goes from 1 to 3" in text and "... " in text  # 6 layers listed, then the rest
    checks = {c.claim: c for c in result["checks"]}
    for claim in [c for c in checks.values() if c.equal]:
        assert claim.stem_diff <= 1e-10, claim
    assert checks["fold == keras (borders included)"].features_diff < 1e-4
    assert checks["naive fold (no border correction) vs keras"].stem_diff > 1e-2
    assert checks["keras vs repeat (per-channel vs one mean/std)"].stem_diff > 1e-3
    costs = {c.strategy: c for c in result["costs"]}
    assert len(costs) == 11 and {c.bytes_per_image for c in costs.values()} == {16 * 20}
    assert costs["sum"].stem_params * 3 == costs["repeat"].stem_params
    assert costs["sum"].stem_macs * 3 == costs["repeat"].stem_macs
    assert costs["repeat"].total_macs - costs["sum"].total_macs == 2 * costs["sum"].stem_macs
    assert costs["adapter"].extra_params == 6 and costs["windows"].extra_params == 6
    assert {n for n, c in costs.items() if c.channels_seen == 3} == THREE_CHANNEL
    # a preview for every strategy: stem strategies show the stem's input and feature maps
    assert {p.stem for p in result["saved"]} == set(costs)
    for path in result["saved"]:
        columns = Image.open(path).text["columns"]
        assert ("as RGB" in columns) == (path.stem in THREE_CHANNEL) and "stem map 0" in columns


def test_layer_rows_find_where_channels_widen():
    net = timm.create_model("test_efficientnet", pretrained=False, num_classes=0).eval()
    dc = Backbone("test_efficientnet", pretrained=False).data_config(net)
    image = torch.zeros(1, 1, 16, 16, dtype=torch.uint8)
    for strategy, widens in [(Repeat(), "input_adapter"), (Sum(), None)]:
        input_module, model = adapted_copy(net, strategy, dc, torch.float32)
        rows = gi.layer_rows(input_module, model, image)
        assert rows[1].name == "conv_stem" and rows[1].shape == (1, 24, 8, 8)
        widen = gi.widening_layer(rows)
        assert (widen.name if widen else None) == widens


def test_missing_hub_weights_fall_back_to_random_init_with_a_note():
    """Tests run offline (HF_HUB_OFFLINE=1): hub weights that are not cached are missing."""
    cfg = compose([*TINY[:2], "model.pretrained=true", "model.weights=null"])
    backbone, net, note = gi.build_backbone(cfg)
    cached = W.hub_weights_cached("timm/test_efficientnet.r160_in1k")
    if cached:  # a machine that once ran online: the real weights load, no note
        assert backbone.pretrained and note is None
    else:
        assert not backbone.pretrained and "random init (model.pretrained=false)" in note
    assert net.conv_stem.in_channels == 3


def test_mistakes_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exit_info:
        gi.main(["adapt=nonexistent"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graytransfer: error: config:") and "\n" not in err
    with pytest.raises(SystemExit) as exit_info:
        gi.main(["model.name=not_a_model"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graytransfer: error: model.name") and "\n" not in err
