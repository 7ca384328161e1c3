"""`python -m graytransfer.tools.shards`: the real CLI converts digits; a second run into the
same folder stops with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import REPO, child_env


@pytest.mark.slow
def test_cli_converts_digits_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "digits"
    command = [
        sys.executable, "-m", "graytransfer.tools.shards", "data=digits", "image_size=16",
        "workers=1", f"out={out}", f"hydra.run.dir={tmp_path / 'hydra'}",
    ]  # fmt: skip
    env = {**child_env(tmp_path), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"train from them with: data=shards data.root={out}" in done.stdout
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(s["count"] for s in manifest["splits"].values()) == 1797
    assert manifest["image_size"] == [16, 16] and manifest["source"]["data"]["_target_"].endswith(
        "DigitsDataModule"
    )
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"graytransfer: error: out '{out}' already holds finished shards: choose another "
        "folder or pass overwrite=true"
    ]
