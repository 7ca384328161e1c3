"""Fast twins of the slow tool command-line tests (test_checkpoint_safety's evaluate command,
test_bad_input's predict command): the real `python -m graytransfer.tools.X` entry points run
in process (helpers.train_main.run_main), so Hydra, the tool and `exit_on_user_error` answer as
on the command line."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from helpers.train_main import run_main
from helpers.trained_fixture import trained_run  # noqa: F401 - the session fixture

from graytransfer.tools import evaluate, predict


def tampered(source: Path, target: Path, marker: Path) -> Path:
    """`source` with its stored `head.pool` made a Hydra config that creates `marker` when
    instantiated; still a checkpoint of tensors and plain values."""
    checkpoint = copy.deepcopy(torch.load(source, map_location="cpu", weights_only=True))
    checkpoint["hyper_parameters"]["config"]["head"]["pool"] = {
        "_target_": "pathlib.Path.touch",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}],
    }
    torch.save(checkpoint, target)
    return target


def test_the_evaluate_command_refuses_a_tampered_checkpoint_in_one_line(
    trained_run,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    marker = tmp_path / "marker"
    path = tampered(trained_run[0] / "checkpoints" / "best.ckpt", tmp_path / "evil.ckpt", marker)
    done = run_main(
        evaluate.main, f"ckpt_path={path}", root=tmp_path, monkeypatch=monkeypatch, capsys=capsys
    )
    lines = done.err.strip().splitlines()
    assert done.code == 2 and len(lines) == 1, done.err
    assert lines[0].startswith(f"graytransfer: error: checkpoint '{path}'")
    assert "head.pool._target_='pathlib.Path.touch'" in lines[0]
    assert not marker.exists()


def test_the_predict_command_with_a_missing_checkpoint_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    done = run_main(
        predict.main,
        "ckpt_path=gone.ckpt",
        f"input={tmp_path}",
        root=tmp_path,
        monkeypatch=monkeypatch,
        capsys=capsys,
    )
    assert done.code == 2
    assert done.err.strip() == (
        "graytransfer: error: ckpt_path: 'gone.ckpt' is not a file; give the path of a .ckpt file"
    )
