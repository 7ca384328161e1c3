"""Fast twins of the slow `train.py` start runs (test_run_folder, test_accelerator,
test_debug_configs, test_bad_input and test_checkpoint_safety's command-line tests): the real
entry point in process (helpers.train_main), so Hydra makes the run folder and its log file,
runs its callbacks and `exit_on_user_error` prints the line, exactly as on the command line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from helpers.configs import TEST_NET, TINY_MODEL
from helpers.train_main import Exit, run_train_main

import graytransfer.run.pipeline  # noqa: F401  (torch, Lightning, timm loaded at collection)
from graytransfer.run import RunFolder

TINY = [*TEST_NET, "logger=none", "extras.print_config=false"]


def runs_under(root: Path, task: str = "train") -> list[Path]:
    runs = root / "outputs" / task / "runs"
    return sorted(runs.iterdir()) if runs.exists() else []


@pytest.fixture
def train_py(tmp_path, monkeypatch, capsys):
    """`train_py(*args)`: train.py ARGS in process with outputs under tmp_path."""

    def run(*args: str) -> Exit:
        return run_train_main(*args, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys)

    return run


def one_error_line(done: Exit) -> str:
    lines = done.err.strip().splitlines()
    assert done.code == 2 and len(lines) == 1, done.err
    assert lines[0].startswith("graytransfer: error: ")
    return lines[0]


def test_a_start_that_fails_on_its_data_leaves_no_folder(tmp_path, train_py):
    (tmp_path / "images").mkdir()
    done = train_py(*TINY, "data=folder", f"data.root={tmp_path / 'images'}", "data.num_workers=0")
    assert "holds no class folders" in one_error_line(done)
    assert runs_under(tmp_path) == []


def test_a_start_refused_before_the_pipeline_leaves_no_folder(tmp_path, train_py):
    """train.py's own checks (train=false without a checkpoint) run inside its cleanup block."""
    done = train_py(*TINY, "train=false")
    assert "train=false: no checkpoint to test" in one_error_line(done)
    assert runs_under(tmp_path) == []


def test_a_folder_in_use_is_refused_and_its_config_files_stay(tmp_path, train_py):
    run_dir = tmp_path / "run"
    (run_dir / ".hydra").mkdir(parents=True)
    first = {name: f"the first run's {name}\n" for name in ("config.yaml", "overrides.yaml")}
    for name, text in first.items():
        (run_dir / ".hydra" / name).write_text(text)
    with RunFolder(run_dir).lock():  # the first run, still running
        done = train_py(*TINY, f"hydra.run.dir={run_dir}", "seed=7")
    assert "is in use by another run" in one_error_line(done)
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").iterdir()} == first


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_trainer_gpu_without_a_gpu_is_one_line_and_no_run(tmp_path, train_py):
    line = one_error_line(train_py(*TINY, "trainer=gpu"))
    assert "trainer.accelerator" in line and "torch sees no GPU" in line and "trainer=cpu" in line
    assert runs_under(tmp_path) == []


def test_debug_fdr_runs_under_outputs_debug_without_wandb(tmp_path, train_py):
    done = train_py("debug=fdr", *TINY_MODEL)
    assert done.code == 0, done.err[-3000:]
    runs = runs_under(tmp_path, "debug")
    assert len(runs) == 1 and not (tmp_path / "outputs" / "train").exists()
    assert json.loads((runs[0] / "metrics.json").read_text())["status"] == "ok"
    assert not (runs[0] / "wandb").exists()


def test_a_misspelled_key_is_hydras_short_error_with_the_plus_hint(tmp_path, train_py):
    done = train_py("trainer.max_epoch=3")
    assert done.code == 1
    assert "Could not override 'trainer.max_epoch'" in done.err
    assert "To append to your config use +trainer.max_epoch=3" in done.err
    assert "Traceback" not in done.err


class MakesAFolder:
    """Unpickling it runs code: `os.mkdir(marker)` (what a tampered checkpoint could do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.mkdir, (str(self.marker),)


def test_a_checkpoint_with_pickled_code_is_one_line_and_never_runs(tmp_path, train_py):
    path, marker = tmp_path / "unsafe.ckpt", tmp_path / "ran"
    torch.save({"state_dict": {}, "x": MakesAFolder(marker)}, path)
    line = one_error_line(train_py(f"ckpt_path={path}", "logger=none"))
    assert line.startswith(f"graytransfer: error: ckpt_path: '{path}' holds pickled code")
    assert "weights_only" not in line
    assert not marker.exists(), "loading the checkpoint ran its code"
    assert runs_under(tmp_path) == []
