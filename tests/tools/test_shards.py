"""`python -m graytransfer.tools.shards`: the real CLI converts digits; a second run into the
same folder stops with one line.

The conversion runs the entry point in process (helpers.train_main.run_main: Hydra, the tool and
`exit_on_user_error` as on the command line); the refusal is a real child process, whose whole
stderr is the one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import REPO, child_env
from helpers.train_main import run_main

from graytransfer.tools import shards


@pytest.mark.slow
def test_cli_converts_digits_and_refuses_to_overwrite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits"
    args = ["data=digits", "image_size=16", "workers=1", f"out={out}",
            f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
    done = run_main(shards.main, *args, root=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
    assert done.code == 0, done.err[-3000:]
    assert f"train from them with: data=shards data.root={out}" in done.out
    manifest = json.loads((out / "manifest.json").read_text())
    assert sum(s["count"] for s in manifest["splits"].values()) == 1797
    assert manifest["image_size"] == [16, 16] and manifest["source"]["data"]["_target_"].endswith(
        "DigitsDataModule"
    )
    command = [sys.executable, "-m", "graytransfer.tools.shards", *args]
    env = child_env(tmp_path)
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        f"graytransfer: error: out '{out}' already holds finished shards: choose another "
        "folder or pass overwrite=true"
    ]
