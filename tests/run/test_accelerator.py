"""`trainer=gpu|ddp|mps` on a machine whose torch cannot see that device: one clear line naming
trainer.accelerator before any work (this machine has no GPU; the tests skip where one is)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers.configs import FAST, REPO, child_env, compose_config
from helpers.errors import NO_DATA, user_message

from graytransfer.run import train

NO_GPU = not torch.cuda.is_available()
NO_MPS = not torch.backends.mps.is_available()


@pytest.mark.parametrize(
    ("trainer", "absent", "accelerator"),
    [("gpu", NO_GPU, "gpu"), ("ddp", NO_GPU, "gpu"), ("mps", NO_MPS, "mps")],
)
def test_an_absent_accelerator_is_refused_before_any_work(
    tmp_path: Path, trainer: str, absent: bool, accelerator: str
) -> None:
    if not absent:
        pytest.skip(f"this machine has the device trainer={trainer} asks for")
    run_dir = tmp_path / "run"
    cfg = compose_config(
        [*NO_DATA, f"data.root={tmp_path / 'nowhere'}", f"trainer={trainer}"], run_dir
    )
    message = user_message(lambda: train(cfg))
    assert message.startswith(f"trainer.accelerator={accelerator}: torch sees no ")
    assert "use trainer=cpu" in message
    assert not run_dir.exists()


def test_the_mps_trainer_config_is_one_apple_gpu(tmp_path: Path) -> None:
    cfg = compose_config(["trainer=mps"], tmp_path / "run")
    assert cfg.trainer.accelerator == "mps" and cfg.trainer.devices == 1


@pytest.mark.parametrize("trainer", ["cpu", "default"])
def test_cpu_and_auto_are_never_refused(make_cfg, trainer: str) -> None:
    cfg = make_cfg(
        f"trainer={trainer}",
        "model=timm",
        "model.name=test_efficientnet",
        "model.pretrained=false",
        "logger=none",
    )
    assert train(cfg)["status"] == "ok"


@pytest.mark.slow
@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_train_py_trainer_gpu_without_a_gpu_says_so_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "trainer=gpu", *FAST],
        cwd=tmp_path,
        env=child_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode != 0
    lines = [line for line in done.stderr.splitlines() if "trainer.accelerator" in line]
    assert len(lines) == 1 and "torch sees no GPU" in lines[0] and "trainer=cpu" in lines[0]
    assert "Traceback" not in done.stderr and "MisconfigurationException" not in done.stderr
    assert not (tmp_path / "outputs" / "train").exists() or not any(
        (tmp_path / "outputs" / "train").rglob("metrics.json")
    )
