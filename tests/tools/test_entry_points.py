"""Every `python -m graytransfer.tools.X` answers `--help` and a config error (a value left at
???, a missing argument, a config that does not compose) without importing torch, Lightning or
timm, as `train.py` does: the heavy imports load only after the command line is parsed.

The tools are found on disk (every tools/*.py with an `if __name__ == "__main__":`), so a new
tool is checked as soon as it exists; its config-error case goes into `CONFIG_ERRORS`."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from helpers.configs import child_env

import graytransfer.study
import graytransfer.tools

TOOLS_DIR = Path(graytransfer.tools.__file__).parent
STUDY_DIR = Path(graytransfer.study.__file__).parent
HEAVY = ("torch", "lightning", "timm")

#: runs `python -m MODULE ARGS...` in this process and reports the heavy modules it imported
WRAPPER = (
    "import runpy, sys\n"
    "name = sys.argv[1]\n"
    "sys.argv = [name, *sys.argv[2:]]\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module(name, run_name='__main__', alter_sys=True)\n"
    "except SystemExit as exit:\n"
    "    code = exit.code\n"
    f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
    "print('heavy: ' + ','.join(heavy), file=sys.stderr)\n"
    "sys.exit(code)\n"
)

#: tool -> (arguments that are a config error, the line it prints, its exit status)
CONFIG_ERRORS: dict[str, tuple[list[str], str, int]] = {
    "evaluate": ([], "graytransfer: error: ckpt_path is required: pass ckpt_path=PATH", 2),
    "predict": ([], "graytransfer: error: ckpt_path is required: pass ckpt_path=PATH", 2),
    "export": ([], "graytransfer: error: ckpt_path is required: pass ckpt_path=PATH", 2),
    "explain": ([], "graytransfer: error: ckpt_path is required: pass ckpt_path=PATH", 2),
    "compare": (["b=x.ckpt"], "graytransfer: error: a is required: pass a=VALUE", 2),
    "shards": (["out=shards", "data=folder"], "graytransfer: error: data.root is required", 2),
    "inspect": (["adapt=nope"], "graytransfer: error: config: In 'train': Could not find", 2),
    "report": ([], "error: the following arguments are required: dir", 2),
    "study": ([], "error: the following arguments are required: root, --out", 2),
}


def entry_points() -> list[str]:
    """The tools run with `python -m`: every module of tools/ with a `__main__` block."""
    return sorted(
        path.stem
        for path in TOOLS_DIR.glob("*.py")
        if 'if __name__ == "__main__":' in path.read_text()
    )


def run_tool_counting_imports(
    name: str, args: list[str], root: Path
) -> tuple[int, str, str, list[str]]:
    """(exit status, stdout, stderr less the report line, heavy modules imported)."""
    done = subprocess.run(
        [sys.executable, "-c", WRAPPER, f"graytransfer.tools.{name}", *args],
        cwd=root,
        env=child_env(root),
        capture_output=True,
        text=True,
        timeout=300,
    )
    *rest, last = done.stderr.rstrip("\n").split("\n")
    assert last.startswith("heavy: "), done.stderr[-2000:]
    heavy = [m for m in last.removeprefix("heavy: ").split(",") if m]
    return done.returncode, done.stdout, "\n".join(rest), heavy


def test_the_tools_are_found_on_disk() -> None:
    found = entry_points()
    assert {"evaluate", "predict", "export", "inspect", "report", "study", "explain"} <= set(found)
    assert "owned" not in found and "depth_report" not in found  # helpers, not entry points
    missing = sorted(set(found) - set(CONFIG_ERRORS))
    assert not missing, f"add a config-error case to CONFIG_ERRORS for tools/{missing[0]}.py"


@pytest.mark.parametrize("name", entry_points())
def test_help_loads_no_torch(name: str, tmp_path: Path) -> None:
    code, out, err, heavy = run_tool_counting_imports(name, ["--help"], tmp_path)
    assert code == 0, err[-2000:]
    hydra = "hydra_entry(" in (TOOLS_DIR / f"{name}.py").read_text()
    if hydra:
        assert "== Configuration groups ==" in out and "== Config ==" in out, out
    else:
        assert out.startswith(f"usage: python -m graytransfer.tools.{name}"), out
    assert heavy == [], f"`python -m graytransfer.tools.{name} --help` imported {heavy}"


@pytest.mark.parametrize("name", entry_points())
def test_a_config_error_is_one_line_and_loads_no_torch(name: str, tmp_path: Path) -> None:
    args, line, status = CONFIG_ERRORS[name]
    code, _, err, heavy = run_tool_counting_imports(name, args, tmp_path)
    assert code == status, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert line in last, err[-2000:]
    assert heavy == [], f"`python -m graytransfer.tools.{name} {' '.join(args)}` imported {heavy}"


def test_every_deferred_import_resolves() -> None:
    """The imports inside functions (loaded after the command line) name graytransfer modules
    and names that exist: a search for `^from graytransfer` misses them, so a moved module is
    caught here rather than by a user's first real run."""
    broken = []
    for path in sorted([*TOOLS_DIR.glob("*.py"), *STUDY_DIR.glob("*.py")]):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not (node.module or "").startswith(
                "graytransfer"
            ):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                name = f"{node.module}.{alias.name}"
                package = hasattr(module, "__path__")  # a sub-module may be imported by name
                if not hasattr(module, alias.name) and not (
                    package and importlib.util.find_spec(name) is not None
                ):
                    broken.append(f"{path.name}:{node.lineno} {name}")
    assert not broken, f"imports that name nothing: {broken}"
