"""graytransfer.tools.report: metrics.json files of a sweep -> Markdown table (mean ± std) + PNG;
runs grouped by their whole config but the seed, each seed counted once."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import pytest
from helpers.trained_fixture import trained_run  # noqa: F401 - the fixture
from omegaconf import OmegaConf

from graytransfer.config import compose
from graytransfer.errors import UserError
from graytransfer.study.groups import EXCLUDED_KEYS, group_runs
from graytransfer.study.report_figure import figure
from graytransfer.study.runs import find_runs
from graytransfer.tools.report import main, mean_std, write_report


def write_run_record(root: Path, name: str, **fields) -> None:
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
        write_run_record(
            tmp_path, f"digits/adapt=fold,seed={seed}", strategy="fold", metrics={"test/acc": acc}
        )
    write_run_record(tmp_path, "digits/adapt=repeat,seed=0", metrics={"test/acc": 0.5})
    write_run_record(tmp_path, "digits/scratch", pretrained=False, metrics={"test/acc": 0.3})
    write_run_record(tmp_path, "fashion/adapt=fold,seed=0", data="fashion_mnist", strategy="fold")
    # a W&B folder's files are never read as runs
    (tmp_path / "digits/scratch/wandb").mkdir()
    (tmp_path / "digits/scratch/wandb/metrics.json").write_text("{}")

    groups, bad, repeats = group_runs(find_runs(tmp_path))
    assert not bad and not repeats
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
    write_run_record(tmp_path, "ok", metrics={"test/acc": 0.8})
    write_run_record(
        tmp_path, "bad", status="failed", error="UserError: data.image_size: [3, 3] ..."
    )
    write_run_record(tmp_path, "nan", status="diverged", metrics={"test/acc": 0.1})
    groups, bad, repeats = group_runs(find_runs(tmp_path))
    assert [len(g.runs) for g in groups] == [1]
    assert sorted(r["_dir"] for r in bad) == ["bad", "nan"]
    text = write_report(tmp_path)[0].read_text()
    assert "3 runs (1 finished, 1 counted)" in text
    assert "`bad`: failed UserError: data.image_size" in text
    assert "`nan`: diverged" in text


def test_mean_std_formats() -> None:
    assert mean_std([], ".3f") == "–"
    assert mean_std([0.5], ".3f") == "0.500"
    assert mean_std([1000.0, 3000.0], ",.0f") == "2,000 ± 1,414"


def test_cli_writes_to_out_and_errors_in_one_line(tmp_path: Path, capsys) -> None:
    write_run_record(tmp_path / "runs", "a")
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


def test_an_earlier_report_is_replaced_and_a_users_report_md_never(tmp_path: Path) -> None:
    write_run_record(tmp_path / "runs", "a")
    write_report(tmp_path / "runs", tmp_path / "docs")
    write_report(tmp_path / "runs", tmp_path / "docs")  # its own earlier report: replaced
    users = tmp_path / "mine" / "report.md"
    users.parent.mkdir()
    users.write_text("# My paper's report\n")
    with pytest.raises(UserError, match=r"report.md' exists and is not a report this tool wrote"):
        write_report(tmp_path / "runs", users.parent)
    assert users.read_text() == "# My paper's report\n"


def write_hydra_run(root: Path, name: str, overrides: list[str], acc: float, mtime: float) -> None:
    """A run folder as train.py leaves it: `.hydra/config.yaml` (the composed config, paths
    unresolved) and a `metrics.json` written at time `mtime`."""
    cfg = compose(overrides)
    run = root / name
    (run / ".hydra").mkdir(parents=True)
    OmegaConf.save(cfg, run / ".hydra" / "config.yaml")
    record = {
        "status": "ok",
        "seed": cfg.seed,
        "model": "tf_efficientnet_lite0",
        "pretrained": True,
        "strategy": "repeat",
        "choices": {"data": "digits", "model": "lite0", "adapt": "repeat"},
        "classes": [str(i) for i in range(10)],
        "metrics": {"test/acc": acc},
    }
    (run / "metrics.json").write_text(json.dumps(record))
    os.utime(run / "metrics.json", (mtime, mtime))


def test_runs_are_grouped_by_their_whole_config_and_each_seed_counts_once(tmp_path: Path) -> None:
    write_hydra_run(tmp_path, "0", ["seed=0"], 0.80, mtime=100)
    write_hydra_run(tmp_path, "1", ["seed=1"], 0.90, mtime=110)
    write_hydra_run(tmp_path, "2", ["seed=0"], 0.70, mtime=200)  # seed 0 again, newer: counted
    # other loggers, tags, folders and a resume setting do not make another experiment
    other = ["seed=2", "logger=csv", "tags=[x]", "paths.log_dir=/elsewhere", "resume=auto"]
    write_hydra_run(tmp_path, "3", other, 0.60, mtime=120)
    write_hydra_run(tmp_path, "4", ["seed=0", "optim.lr=0.01"], 0.50, mtime=130)
    write_hydra_run(tmp_path, "5", ["seed=0", "trainer.max_epochs=3"], 0.95, mtime=140)

    groups, bad, repeats = group_runs(find_runs(tmp_path))
    assert not bad
    runs = sorted(sorted(r["_dir"] for r in g.runs) for g in groups)
    assert runs == [["1", "2", "3"], ["4"], ["5"]]
    assert [(old["_dir"], new["_dir"]) for old, new in repeats] == [("0", "2")]

    text = write_report(tmp_path)[0].read_text()
    assert "6 runs (6 finished, 5 counted) in 3 groups" in text
    assert "Config keys that differ between these groups: `optim.lr`, `trainer.max_epochs`" in text
    header = "| model | weights | strategy | optim.lr | trainer.max_epochs | n | test acc |"
    assert header in text
    base = f"{statistics.fmean([0.9, 0.7, 0.6]):.3f} ± {statistics.stdev([0.9, 0.7, 0.6]):.3f}"
    assert f"| lite0 | ImageNet | repeat | 0.001 | 10 | 3 | {base} |" in text
    assert "| lite0 | ImageNet | repeat | 0.01 | 10 | 1 | 0.500 |" in text
    assert "| lite0 | ImageNet | repeat | 0.001 | 3 | 1 | 0.950 |" in text
    assert "`0` (seed 0): left out for the newer `2`" in text
    assert all(f"`{key}`" in text for key in EXCLUDED_KEYS)  # the exclusions are stated


def test_the_chart_starts_at_zero_and_shows_the_chance_level(tmp_path: Path) -> None:
    write_hydra_run(tmp_path, "a", ["seed=0"], 0.95, mtime=100)
    write_hydra_run(tmp_path, "b", ["seed=0", "optim.lr=0.01"], 0.97, mtime=100)
    groups, _, _ = group_runs(find_runs(tmp_path))
    (ax,) = figure(groups).axes
    assert ax.get_xlim() == (0.0, 1.0)
    (chance,) = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert list(chance.get_xdata()) == [0.1, 0.1]  # 10 classes
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["lite0/repeat optim.lr=0.001 n=1", "lite0/repeat optim.lr=0.01 n=1"]


@pytest.mark.slow
def test_a_run_without_a_saved_config_is_grouped_by_its_checkpoint_config(trained_run) -> None:  # noqa: F811
    run_dir, _ = trained_run  # trained by graytransfer.run.pipeline.train: no .hydra folder
    (run,) = find_runs(run_dir.parent)
    assert run["_source"] == "checkpoint"
    config = run["_config"]
    assert config["model.name"] == "test_efficientnet" and config["trainer.max_epochs"] == 2
    assert "seed" not in config and not any(key.startswith("paths.") for key in config)
