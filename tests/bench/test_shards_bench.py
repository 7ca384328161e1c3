"""bench.shards runs end to end at a tiny size (`--dry-run`): uncached PNG, the hand-off floor
(ready images through the same loader), shards in both formats and the memory-mapped array, at 8
and 16 bits, each row with its throughput, ratio, CPU per image and peak RSS; it removes only the
folder it made. Nothing is timed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import shards

pytest.importorskip("litdata", reason="the shards extra: pip install 'graytransfer[shards]'")


def test_dry_run_reports_every_loader_at_both_depths_and_cleans_up(tmp_path: Path, capsys) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "keep.txt").write_text("a user's file beside the bench's folder")
    out = tmp_path / "shards.json"
    shards.main(["--dry-run", "--dir", str(scratch), "--out", str(out)])
    record = json.loads(out.read_text())
    rows = [(r["bits"], r["loader"], r["images"]) for r in record["rows"]]
    assert rows == [
        (bits, loader, count)
        for bits in (8, 16)
        for loader, count in [("png", 32), ("handoff", 48), *((kind, 96) for kind in shards.KINDS)]
    ]
    for row in record["rows"]:
        assert row["images_per_s"] > 0 and row["cpu_us_per_image"] > 0 and row["peak_rss_mib"] > 0
        timed = {"png": 32, "handoff": 48}.get(row["loader"], 96)
        assert row["images_timed"] == timed - 8, row  # one warm-up batch left out
        assert ("write_s" in row) == (row["loader"] in shards.KINDS), row  # what was written
        assert row["vs_png"] == pytest.approx(
            row["images_per_s"] / next(
                r["images_per_s"] for r in record["rows"]
                if r["loader"] == "png" and r["bits"] == row["bits"]
            )
        )  # fmt: skip
    assert "| bits | images | loader |" in capsys.readouterr().out
    assert sorted(p.name for p in scratch.iterdir()) == ["keep.txt"]


def test_a_size_that_does_not_fit_the_disk_is_refused_before_writing(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--dir .* GB free, the largest size needs"):
        shards.main(["--counts", str(10**12), "--dir", str(tmp_path), "--out", str(tmp_path / "o")])
    assert list(tmp_path.iterdir()) == []
