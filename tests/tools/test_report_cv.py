"""`python -m graytransfer.tools.report` on a cross-validation sweep: every metric per fold
(test with its interval), its mean, sample std and min–max over the finished folds, and the
merged out-of-fold file; a sweep without folds gets no such section."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from graytransfer.run.cv import OOF_FILE
from graytransfer.study.folds import cv_section
from graytransfer.tools.report import main

ACCS = [0.91, 0.87, 0.95]


def _fold(root: Path, fold: int, metrics: dict, status: str = "ok") -> None:
    folder = root / str(fold)
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "config.yaml").write_text(f"cv:\n  folds: 3\n  fold: {fold}\n")
    record = {"status": status, "model": "tf_efficientnet_lite0", "metrics": metrics}
    (folder / "metrics.json").write_text(json.dumps(record))
    (folder / OOF_FILE).write_text(f"id,split,label,p_x\nimg{fold},fold{fold},1,0.8\n")


def _sweep(root: Path) -> None:
    for fold, acc in enumerate(ACCS):
        _fold(
            root, fold, {"test/acc": acc, "test/acc_ci": [acc - 0.02, acc + 0.01], "val/acc": 0.9}
        )


def _row(text: str, metric: str) -> list[str]:
    line = next(s for s in text.splitlines() if s.startswith(f"| `{metric}` |"))
    return [c.strip() for c in line.strip("|").split("|")]


def test_each_metric_per_fold_with_mean_std_and_range(tmp_path: Path) -> None:
    _sweep(tmp_path)
    text = cv_section(tmp_path)
    assert text.startswith("## Cross-validation (3 folds)")
    row = _row(text, "test/acc")
    assert row[1:4] == ["0.9100 [0.890, 0.920]", "0.8700 [0.850, 0.880]", "0.9500 [0.930, 0.960]"]
    assert row[4:] == [
        f"{statistics.fmean(ACCS):.4f}",
        f"{statistics.stdev(ACCS):.4f}",  # sample std over folds
        "0.8700–0.9500",
    ]
    assert _row(text, "val/acc")[4:] == ["0.9000", "0.0000", "0.9000–0.9000"]
    assert "test/acc_ci" not in text.replace("`test/acc`", "")
    assert "(3 images, one row each)" in text


def test_a_failed_fold_is_listed_and_left_out(tmp_path: Path) -> None:
    _sweep(tmp_path)
    record = tmp_path / "1" / "metrics.json"
    record.write_text(json.dumps({"status": "failed", "metrics": {"test/acc": 0.1}}))
    text = cv_section(tmp_path)
    assert "Failed fold(s), left out: 1." in text
    kept = [ACCS[0], ACCS[2]]
    assert _row(text, "test/acc")[4:6] == [
        f"{statistics.fmean(kept):.4f}",
        f"{statistics.stdev(kept):.4f}",
    ]


def test_report_main_writes_the_merged_oof_file(tmp_path: Path, capsys) -> None:
    _sweep(tmp_path)
    assert main([str(tmp_path)]) == 0
    merged = (tmp_path / OOF_FILE).read_text().splitlines()
    assert merged[0] == "id,split,fold,label,p_x" and len(merged) == 4
    assert "## Cross-validation (3 folds)" in (tmp_path / "report.md").read_text()
    assert "## Cross-validation" in capsys.readouterr().out


def test_a_sweep_without_folds_has_no_cv_section(tmp_path: Path) -> None:
    (tmp_path / "0").mkdir()
    (tmp_path / "0" / "metrics.json").write_text(json.dumps({"metrics": {"test/acc": 0.5}}))
    assert cv_section(tmp_path) == ""
    assert not (tmp_path / OOF_FILE).exists()
