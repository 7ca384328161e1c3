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


#: runs a script as `python SCRIPT ARGS...` would, then reports which heavy libraries it imported
#: (at exit, so also after Hydra's own `sys.exit`)
REPORT_HEAVY = """
import atexit, runpy, sys
HEAVY = ("torch", "lightning", "timm")
atexit.register(
    lambda: print("heavy:", ",".join(m for m in HEAVY if m in sys.modules), file=sys.stderr)
)
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def train_py_imports(*args: str, cwd: Path, env: dict[str, str] | None = None):
    """`python train.py ARGS` in a child process: its result and the heavy modules it imported."""
    from helpers.configs import REPO

    result = subprocess.run(
        [sys.executable, "-c", REPORT_HEAVY, str(REPO / "train.py"), *args],
        cwd=cwd,
        env={**os.environ, "GRAYTRANSFER_ROOT": str(cwd), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    heavy = [line for line in result.stderr.splitlines() if line.startswith("heavy:")]
    assert len(heavy) == 1, result.stderr[-2000:]
    return result, heavy[0].removeprefix("heavy:").strip()


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["--cfg", "job"],
        ["--info"],
        ["--cfg", "job", "experiment=example_folder", "logger=many", "debug=fdr"],
    ],
)
def test_help_and_config_answer_without_torch(args: list[str], tmp_path: Path) -> None:
    result, heavy = train_py_imports(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert heavy == ""
    assert result.stdout.strip()  # it did answer


def test_shell_completion_answers_without_torch(tmp_path: Path) -> None:
    result, heavy = train_py_imports(
        "-sc", "query=bash", cwd=tmp_path, env={"COMP_LINE": "python train.py ada"}
    )
    assert result.returncode == 0 and heavy == ""
    assert "adapt=" in result.stdout.split()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["adapt=nope"], "adapt/nope"),  # Hydra's own: an unknown choice
        (["data=folder"], "graytransfer: error: data.root is required: pass data.root=DIR"),
        (["train=false"], "graytransfer: error: train=false: no checkpoint to test"),
        (["extras.enforce_tags=true"], "graytransfer: error: tags: empty while"),
    ],
)
def test_config_errors_answer_without_torch(args: list[str], message: str, tmp_path: Path):
    result, heavy = train_py_imports(*args, cwd=tmp_path)
    assert result.returncode != 0 and message in result.stderr
    assert heavy == ""
    assert "Traceback" not in result.stderr


#: Hydra's own `--help` for `conf/<name>.yaml`, without graytransfer's entry point
HYDRA_HELP = """
import sys
import hydra
conf, name = sys.argv.pop(1), sys.argv.pop(1)
hydra.main(version_base="1.3", config_path=conf, config_name=name)(lambda cfg: None)()
"""


def test_fast_help_prints_exactly_what_hydras_help_prints(tmp_path: Path) -> None:
    """train.py answers --help composing once; Hydra composes again for every group listed."""
    from helpers.configs import CONF, REPO

    overrides = ["model=b3", "adapt=sum"]
    theirs = subprocess.run(
        [sys.executable, "-c", HYDRA_HELP, str(CONF), "train", "--help", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    ours = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "--help", *overrides],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert theirs.returncode == 0 and ours.returncode == 0, theirs.stderr + ours.stderr
    assert ours.stdout == theirs.stdout
    assert "debug: default, fdr, limit, overfit, profiler" in ours.stdout
    assert "logger: csv, many, mlflow, none, tensorboard, wandb" in ours.stdout
    assert "name: tf_efficientnet_b3" in ours.stdout


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["hydra.run.dir={file}/run"], {}, "hydra.run.dir: cannot create or write the output "
         "folder '{file}/run' (Not a directory: '{file}/run'); set hydra.run.dir to a writable"),
        ([], {"GRAYTRANSFER_ROOT": "{file}"}, "(Not a directory: '{file}/outputs/train/runs/"),
        ([], {"GRAYTRANSFER_ROOT": "{file}"}, "GRAYTRANSFER_ROOT='{file}' holds it: set "
         "GRAYTRANSFER_ROOT (or hydra.run.dir) to a writable one"),
        (["-m", "seed=0,1", "hydra.sweep.dir={file}/sweep"], {}, "hydra.sweep.dir: cannot create "
         "or write the output folder '{file}/sweep'"),
    ],
    ids=["run-dir", "root-reason", "root-fix", "sweep-dir"],
)  # fmt: skip
def test_an_output_folder_that_cannot_be_made_is_one_line(args, env, message, tmp_path: Path):
    """A run or sweep folder under a file (or read-only; see below) stopped Hydra with a
    traceback; now one line names the folder and the setting, before any work."""
    blocker = tmp_path / "a_file"
    blocker.write_text("the user's file\n")
    fill = {"file": str(blocker)}
    result, heavy = train_py_imports(
        *[a.format(**fill) for a in args],
        cwd=tmp_path,
        env={k: v.format(**fill) for k, v in env.items()},
    )
    lines = [line for line in result.stderr.splitlines() if not line.startswith("heavy:")]
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert lines[0].startswith("graytransfer: error: ") and message.format(**fill) in lines[0]
    assert heavy == "" and blocker.read_text() == "the user's file\n"


def test_a_read_only_output_folder_is_refused(tmp_path: Path, monkeypatch) -> None:
    """Root ignores permission bits, so the read-only folder is what `os.access` reports."""
    from graytransfer.cli import check_output_folder

    readonly = tmp_path / "ro"
    readonly.mkdir()
    monkeypatch.setenv("GRAYTRANSFER_ROOT", str(readonly))
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != readonly)
    with pytest.raises(UserError, match=f"hydra.run.dir: .* \\(Permission denied: '{readonly}'\\); "
                       f"GRAYTRANSFER_ROOT='{readonly}' holds it") as err:  # fmt: skip
        check_output_folder(readonly, "hydra.run.dir")
    assert "\n" not in str(err.value)
    check_output_folder(tmp_path / "fine" / "run", "hydra.run.dir")  # makes it, as Hydra would
    assert (tmp_path / "fine" / "run").is_dir()


def test_a_failed_start_never_deletes_a_folder_the_user_made(tmp_path: Path) -> None:
    """A refused start removes the run folder Hydra made for it, but an empty folder of the
    user's given as hydra.run.dir was deleted with it; it is kept now."""
    users = tmp_path / "my_run"
    users.mkdir()
    result, _ = train_py_imports("data=folder", f"hydra.run.dir={users}", cwd=tmp_path)
    assert result.returncode == 2 and "data.root is required" in result.stderr
    assert users.is_dir()
    made = tmp_path / "made_by_hydra"
    result, _ = train_py_imports("data=folder", f"hydra.run.dir={made}", cwd=tmp_path)
    assert result.returncode == 2 and not made.exists()  # Hydra's own is still cleaned up
