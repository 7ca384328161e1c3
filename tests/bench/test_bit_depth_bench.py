"""bench.bit_depth runs end to end at a tiny size: its table and JSON record (accuracy per
variant and seed, loader images/s and bytes per image at 8 and 16 bits). Nothing is timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import bit_depth


@pytest.mark.slow
def test_bit_depth_reports_every_variant_and_both_loaders(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bit_depth.json"
    bit_depth.main(
        [
            "--images", "24", "--image-size", "16", "--epochs", "1", "--seeds", "0",
            "--variants", "0,1", "--loader-repeats", "1", "--threads", "1", "--model", "timm",
            "--out", str(out), "model.name=test_efficientnet", "model.pretrained=false",
        ]
    )  # fmt: skip
    record = json.loads(out.read_text())
    assert [row["variant"] for row in record["rows"]] == list(bit_depth.VARIANTS)[:2]
    assert all(0.0 <= row["test_acc_mean"] <= 1.0 for row in record["rows"])
    summary = record["summary"]
    assert summary["bytes per image 8-bit"] == 16 * 16
    assert summary["bytes per image 16-bit"] == 2 * 16 * 16
    assert "loader 16-bit images/s (int16)" in summary
    assert "| variant | seeds |" in capsys.readouterr().out
