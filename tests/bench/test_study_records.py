"""bench.study_records: the finished runs' report files are copied, nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from bench.study_records import copy_records, main


def write_run_files(root: Path, name: str, status: str | None) -> Path:
    run = root / "fashion_mnist" / "lite0" / name
    (run / ".hydra").mkdir(parents=True)
    (run / "csv" / "version_0").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / ".hydra" / "config.yaml").write_text("seed: 0\n")
    (run / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (run / "csv" / "version_0" / "metrics.csv").write_text("step,val/acc\n38,0.5\n")
    (run / "checkpoints" / "best.ckpt").write_bytes(b"weights")
    (run / "split.csv").write_text("split,id\n")
    if status is not None:
        (run / "metrics.json").write_text(json.dumps({"status": status, "seed": 0}))
    return run


def test_only_finished_runs_and_only_their_report_files_are_copied(tmp_path: Path, capsys) -> None:
    src, dst = tmp_path / "outputs", tmp_path / "records"
    write_run_files(src, "adapt=repeat,seed=0", "ok")
    write_run_files(src, "adapt=sum,seed=0", "failed")
    write_run_files(src, "adapt=fold,seed=0", None)  # still training
    assert copy_records(src, dst) == (1, 1)
    copied = sorted(str(p.relative_to(dst)) for p in dst.rglob("*") if p.is_file())
    run = "fashion_mnist/lite0/adapt=repeat,seed=0"
    assert copied == [
        f"{run}/.hydra/config.yaml",
        f"{run}/.hydra/overrides.yaml",
        f"{run}/csv/version_0/metrics.csv",
        f"{run}/metrics.json",
    ]
    assert main([str(src), str(dst)]) == 0  # again: replaced in place, still one run
    assert "copied 1 finished runs" in capsys.readouterr().out
