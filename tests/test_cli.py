"""graytransfer.cli: every entry point turns a user's mistake into one line and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import InstantiationException, MissingConfigException

from graytransfer.cli import exit_on_user_error, one_line
from graytransfer.errors import UserError


def raises(error: BaseException):
    def run():
        raise error

    return run


def test_a_user_error_is_one_line_and_status_2(capsys) -> None:
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(raises(UserError("data.root '/x' does not exist")))
    assert info.value.code == 2
    assert capsys.readouterr().err == "graytransfer: error: data.root '/x' does not exist\n"


def test_a_user_error_wrapped_by_instantiate_is_unwrapped() -> None:
    wrapped = InstantiationException("Error in call to target 'x'")
    wrapped.__cause__ = UserError("model.name: 'nope' is not a timm model")
    assert one_line(wrapped) == "model.name: 'nope' is not a timm model"


def test_a_config_that_does_not_compose_is_one_line() -> None:
    message = one_line(MissingConfigException("Could not find 'model/b99'\nAvailable: ..."))
    assert message == "config: Could not find 'model/b99'"


def test_bugs_keep_their_traceback() -> None:
    with pytest.raises(ZeroDivisionError):
        exit_on_user_error(raises(ZeroDivisionError("a bug")))
    plain = InstantiationException("Error in call to target 'x'")
    plain.__cause__ = ValueError("a bug inside a constructor")
    with pytest.raises(InstantiationException):
        exit_on_user_error(raises(plain))
    assert exit_on_user_error(lambda: 41 + 1) == 42


@pytest.mark.parametrize("tool", ["evaluate", "predict", "export"])
def test_hydra_tools_without_a_config_tree_stop_in_one_line(tool: str, tmp_path: Path) -> None:
    env = {**os.environ, "GRAYTRANSFER_CONF": str(tmp_path / "nowhere")}
    result = subprocess.run(
        [sys.executable, "-m", f"graytransfer.tools.{tool}", "ckpt_path=x.ckpt"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("graytransfer: error: no Hydra config tree")
