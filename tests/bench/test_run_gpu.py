"""The GPU recipe (bench/run_gpu.sh, experiment=study_gpu) as far as a machine without a GPU can
check it: the script's parts fit the 540 s plan, a part that runs out of time or fails does not
stop the rest, the config composes as the GPU box composes it, and a study's runs come home in
two files (bench/collect_study.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import types
from pathlib import Path

from helpers.configs import REPO
from omegaconf import OmegaConf

from bench import collect_study
from graytransfer.config import compose
from graytransfer.run import finish_wandb

SCRIPT = REPO / "bench" / "run_gpu.sh"


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "OUT": str(tmp_path / "out"), "GRAYTRANSFER_ROOT": str(tmp_path), **env}
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=600)  # fmt: skip


def test_script_parses_and_its_default_parts_fit_the_plan(tmp_path):
    assert subprocess.run(["bash", "-n", str(SCRIPT)]).returncode == 0
    done = run_script(tmp_path, DRY="1")
    assert done.returncode == 0, done.stderr
    total = int(re.search(r"budget (\d+) s of the 540 s plan", done.stdout)[1])
    assert total <= 540 and "WARNING" not in done.stdout
    parts = re.findall(r"^\[dry\] (\w+) \(timeout (\d+) s\): (.*)$", done.stdout, re.M)
    assert [name for name, _, _ in parts] == ["setup", "study", "collect", "overhead", "scaling"]
    assert sum(int(seconds) + 5 for _, seconds, _ in parts) == total
    study = parts[1][2]
    assert study.startswith("python train.py experiment=study_gpu model=lite0")
    assert not (tmp_path / "out").exists()  # a dry run writes nothing


def test_the_checkpoint_part_measures_b0_at_224_in_bf16_on_the_gpu(tmp_path):
    """Catches the opt-in checkpoint part dropped from the script or measuring the CPU-sized
    step (its CPU run is tests/bench/test_checkpoint_write_bench.py's dry run)."""
    done = run_script(tmp_path, DRY="1", PARTS="setup checkpoint")
    assert done.returncode == 0, done.stderr
    (command,) = re.findall(r"^\[dry\] checkpoint \(timeout 90 s\): (.*)$", done.stdout, re.M)
    assert command.startswith("python -m bench.checkpoint_write --device cuda --trials 20")
    for override in ("model=b0", "data.image_size=224", "data.batch_size=64", "bf16-mixed"):
        assert override in command


def test_a_part_over_the_plan_is_flagged_and_an_unknown_part_refused(tmp_path):
    done = run_script(tmp_path, DRY="1", BUDGET_study="500")
    assert "WARNING: 730 s exceeds the 540 s plan" in done.stdout
    done = run_script(tmp_path, DRY="1", PARTS="study gpu_magic")
    assert done.returncode == 2 and "unknown part 'gpu_magic'" in done.stderr


def hanging_train_py(tmp_path: Path) -> str:
    """A PATH with a `python` that hangs on `python train.py ...` and is the real Python for
    anything else: the study part then runs out of its budget whatever the machine's speed (the
    real train.py merely imports for longer than a budget of 1 s on an idle machine, and a loaded
    one gave `collect`, which imports torch, more than its own 10 s)."""
    folder = tmp_path / "bin"
    folder.mkdir()
    shim = folder / "python"
    shim.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = train.py ]; then exec sleep 600; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return f"{folder}{os.pathsep}{os.environ['PATH']}"


def test_a_timed_out_part_is_reported_and_the_next_part_runs(tmp_path):
    # the study part hangs (hanging_train_py): it times out after its budget of 1 s; collect
    # gets a budget no load reaches, so only the study part can time out
    path = hanging_train_py(tmp_path)
    done = run_script(
        tmp_path, PARTS="study collect", BUDGET_study="1", BUDGET_collect="500", PATH=path
    )
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "out" / "run_gpu.log").read_text()
    assert "[run_gpu] part study: TIMED OUT after 1 s" in log
    assert re.search(r"\[run_gpu\] part collect: (ok|FAILED \(exit 2\))", log)
    assert log.index("part study: TIMED OUT") < log.index("part collect: start")
    assert "study: TIMED OUT after 1 s" in log.split("summary")[1]


def test_study_gpu_composes_for_an_offline_gpu():
    cfg = compose(["experiment=study_gpu"], with_hydra=True)
    assert cfg.model.name == "tf_efficientnet_lite0" and cfg.model.weights == "packaged"
    assert cfg.model.pretrained is True
    assert cfg.data._target_ == "graytransfer.data.FashionMnistDataModule"
    assert (cfg.data.image_size, cfg.data.train_subset, cfg.data.download) == (224, 10000, False)
    assert cfg.trainer.accelerator == "gpu" and cfg.trainer.precision == "bf16-mixed"
    assert cfg.trainer.max_epochs == 3 and cfg.sweep.skip_finished is True
    assert cfg.logger.csv._target_.endswith("CSVLogger")
    hydra = OmegaConf.to_container(cfg.hydra, resolve=False)
    assert (
        str(hydra["mode"]).endswith("MULTIRUN")
        and hydra["sweep"]["dir"] == "${paths.log_dir}/study_gpu"
    )
    assert hydra["sweeper"]["params"] == {"adapt": "repeat,sum,colormap"}
    # run_gpu.sh's data folder must not become part of every run's folder name
    assert "paths.data_dir" in hydra["job"]["config"]["override_dirname"]["exclude_keys"]
    digits = compose(["experiment=study_gpu", "experiment/study_data@study_data=digits"])
    assert digits.data.image_size == 224  # the GPU size wins over the study data's 32


def test_collect_writes_one_row_per_run_and_an_archive_without_checkpoints(tmp_path):
    root = tmp_path / "study_gpu"
    for strategy, acc in (("repeat", 0.9), ("sum", 0.8)):
        run = root / "fashion_mnist" / "lite0" / f"adapt={strategy}"
        (run / "checkpoints").mkdir(parents=True)
        (run / "checkpoints" / "best.ckpt").write_bytes(b"x" * 1000)
        (run / "csv").mkdir()
        (run / "csv" / "metrics.csv").write_text("step,val/acc\n10,0.5\n")
        record = {"status": "ok", "strategy": strategy, "seed": 0, "model": "m",
                  "metrics": {"test/acc": acc}, "timing": {"fit_s": 12.5}}  # fmt: skip
        (run / "metrics.json").write_text(json.dumps(record))
    out = tmp_path / "out"
    sys.argv = ["collect_study", str(root), "--json", str(out / "s.json"), "--tar",
                str(out / "s.tar.gz")]  # fmt: skip
    collect_study.main()
    rows = json.loads((out / "s.json").read_text())["runs"]
    assert [(r["run"], r["test_acc"], r["fit_s"]) for r in rows] == [
        ("fashion_mnist/lite0/adapt=repeat", 0.9, 12.5),
        ("fashion_mnist/lite0/adapt=sum", 0.8, 12.5),
    ]
    with tarfile.open(out / "s.tar.gz") as archive:
        names = archive.getnames()
    assert "study_gpu/fashion_mnist/lite0/adapt=sum/csv/metrics.csv" in names
    assert not [n for n in names if n.endswith(".ckpt")]
    assert not list(out.glob("*.part"))


def test_finishing_wandb_needs_no_wandb_when_a_run_never_used_it(monkeypatch):
    # the GPU box carries no wandb: a CSV-logged run must end without importing it
    monkeypatch.setitem(sys.modules, "wandb", None)  # `import wandb` would raise ImportError
    assert finish_wandb() is None
    # a run that did use wandb is still finished, and its service torn down (log written out)
    calls = []
    fake = types.SimpleNamespace(
        run=object(),
        finish=lambda: calls.append("finish"),
        teardown=lambda: calls.append("teardown"),
    )
    monkeypatch.setitem(sys.modules, "wandb", fake)
    finish_wandb()
    assert calls == ["finish", "teardown"]
