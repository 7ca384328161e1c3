"""graytransfer.tools.report: metrics.json files of a sweep -> Markdown table (mean ± std) + PNG."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest

from graytransfer.errors import UserError
from graytransfer.tools.report import find_runs, group_runs, main, mean_std, write_report


def write_run(root: Path, name: str, **fields) -> None:
    record = {
        "status": "ok",
        "model": "tf_efficientnet_lite0",
        "pretrained": True,
        "strategy": fields.pop("strategy", "repeat"),
        "choices": {"data": fields.pop("data", "digits"), "model": "lite0"},
        "metrics": {"test/acc": 0.9, "test/f1": 0.88, "test/auroc": 0.99},
        "cost": {"extra_params": 0, "stem_macs": 55296},
        "timing": {"train_images_per_s": 100.0, "total_s": 30.0},
    }
    for key, value in fields.items():
        record[key] = {**record.get(key, {}), **value} if isinstance(value, dict) else value
    (root / name).mkdir(parents=True)
    (root / name / "metrics.json").write_text(json.dumps(record))


def test_groups_seeds_and_averages(tmp_path: Path) -> None:
    accs = [0.90, 0.92, 0.97]
    for seed, acc in enumerate(accs):
        write_run(
            tmp_path, f"digits/adapt=fold,seed={seed}", strategy="fold", metrics={"test/acc": acc}
        )
    write_run(tmp_path, "digits/adapt=repeat,seed=0", metrics={"test/acc": 0.5})
    write_run(tmp_path, "digits/scratch", pretrained=False, metrics={"test/acc": 0.3})
    write_run(tmp_path, "fashion/adapt=fold,seed=0", data="fashion_mnist", strategy="fold")
    # a W&B folder's files are never read as runs
    (tmp_path / "digits/scratch/wandb").mkdir()
    (tmp_path / "digits/scratch/wandb/metrics.json").write_text("{}")

    groups, bad = group_runs(find_runs(tmp_path))
    assert not bad
    keys = [(g.data, g.weights, g.strategy, len(g.runs)) for g in groups]
    # sorted by data, then best mean test accuracy first
    assert keys == [
        ("digits", "ImageNet", "fold", 3),
        ("digits", "ImageNet", "repeat", 1),
        ("digits", "random init", "repeat", 1),
        ("fashion_mnist", "ImageNet", "fold", 1),
    ]
    md, png = write_report(tmp_path)
    text = md.read_text()
    expected = f"{statistics.fmean(accs):.3f} ± {statistics.stdev(accs):.3f}"
    assert expected in text  # 0.930 ± 0.036
    assert "**data=digits**" in text and "**data=fashion_mnist**" in text
    assert "| lite0 | random init | repeat | 1 | 0.300 |" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_failed_and_diverged_runs_are_listed_not_averaged(tmp_path: Path) -> None:
    write_run(tmp_path, "ok", metrics={"test/acc": 0.8})
    write_run(tmp_path, "bad", status="failed", error="UserError: data.image_size: [3, 3] ...")
    write_run(tmp_path, "nan", status="diverged", metrics={"test/acc": 0.1})
    groups, bad = group_runs(find_runs(tmp_path))
    assert [len(g.runs) for g in groups] == [1]
    assert sorted(r["_dir"] for r in bad) == ["bad", "nan"]
    text = write_report(tmp_path)[0].read_text()
    assert "3 runs (1 finished)" in text
    assert "`bad`: failed UserError: data.image_size" in text
    assert "`nan`: diverged" in text


def test_mean_std_formats() -> None:
    assert mean_std([], ".3f") == "–"
    assert mean_std([0.5], ".3f") == "0.500"
    assert mean_std([1000.0, 3000.0], ",.0f") == "2,000 ± 1,414"


def test_cli_writes_to_out_and_errors_in_one_line(tmp_path: Path, capsys) -> None:
    write_run(tmp_path / "runs", "a")
    assert main([str(tmp_path / "runs"), "--out", str(tmp_path / "docs")]) == 0
    assert (tmp_path / "docs/report.md").exists() and (tmp_path / "docs/report.png").exists()
    with pytest.raises(SystemExit) as exit_info:
        main([str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is not a folder" in err[0]
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no metrics.json"):
        find_runs(tmp_path / "empty")
