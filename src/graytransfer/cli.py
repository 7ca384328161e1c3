"""What every command-line entry point shares: a user's mistake is one line, never a traceback.

`exit_on_user_error(run)` is the one wrapper: `train.py`, every `python -m graytransfer.tools.*`
and every benchmark go through it, so each prints `graytransfer: error: ...` and exits with
status 2. `hydra_entry(config_name, task)` makes a `@hydra.main` entry point over the project's
config tree (found by `graytransfer.config.conf_dir`) that goes through it too.

`OutputFolderCheck` (a Hydra callback, `hydra.callbacks` in conf/train.yaml) makes a run or sweep
folder that cannot be created or written (a read-only `hydra.run.dir` or `GRAYTRANSFER_ROOT`, a
path under a file) such a line too, before Hydra itself creates it and fails with a traceback.
"""

from __future__ import annotations

import os
import string
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from hydra.errors import HydraException, InstantiationException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from graytransfer.errors import UserError

T = TypeVar("T")
PREFIX = "graytransfer: error:"


def user_error_in(error: BaseException | None) -> UserError | None:
    """The UserError behind `error`, also when Hydra's `instantiate` wrapped it."""
    while error is not None:
        if isinstance(error, UserError):
            return error
        if not isinstance(error, InstantiationException):
            return None
        error = error.__cause__
    return None


def one_line(error: BaseException) -> str | None:
    """The one-line message for a user's mistake (a UserError, also wrapped by `instantiate`,
    or a config that does not compose); None for anything else, a bug that keeps its
    traceback."""
    found = user_error_in(error)
    if found is not None:
        return str(found)
    if isinstance(error, HydraException) and not isinstance(error, InstantiationException):
        return f"config: {str(error).splitlines()[0]}"
    return None


def exit_on_user_error(run: Callable[[], T]) -> T:
    """Call `run`; a user's mistake prints `graytransfer: error: ...` and exits with status 2."""
    try:
        return run()
    except (UserError, HydraException) as err:
        message = one_line(err)
        if message is None:
            raise
        print(f"{PREFIX} {message}", file=sys.stderr)
        raise SystemExit(2) from None


def hydra_entry(config_name: str, task: Callable[[DictConfig], T]) -> Callable[[], T | None]:
    """An entry point (`train.py`, `python -m graytransfer.tools.*`) running `task(cfg)` on
    `conf/<config_name>.yaml` plus the command line's overrides, with Hydra's own run folder,
    logging, `--help` and `-m` sweeps. `task`'s return value goes back to Hydra (a sweeper's
    objective).

    This module imports only Hydra and OmegaConf: an entry point whose heavy imports (torch,
    Lightning, timm) sit inside `task` answers `--cfg`, `--info`, shell completion and config
    errors at Hydra's own speed, and `--help` faster (`fast_help`: the same text, composed once);
    bench/startup.py measures it."""
    import hydra

    from graytransfer.config import conf_dir

    def main() -> T | None:
        conf = exit_on_user_error(conf_dir)
        if config_name == "train":  # `-m cv.folds=K`: one sweep of the folds
            sys.argv[1:] = exit_on_user_error(lambda: fold_sweep(sys.argv[1:]))
        args = sys.argv[1:]
        overrides = [a for a in args if a not in HELP_FLAGS]
        if len(overrides) < len(args) and not any(a.startswith("-") for a in overrides):
            print(exit_on_user_error(lambda: fast_help(conf, config_name, overrides)))
            return None

        def run(cfg: DictConfig) -> T:
            return exit_on_user_error(lambda: task(cfg))

        return hydra.main(version_base="1.3", config_path=str(conf), config_name=config_name)(run)()

    return main


#: flags that only print (help, config, info): `fold_sweep` leaves their command lines alone
INFO_FLAGS = ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i", "--shell-completion")


def fold_sweep(args: Sequence[str]) -> list[str]:
    """`args` of train.py with `cv.fold=range(0,K)` added when they ask for a multirun (`-m`)
    with `cv.folds=K` and no `cv.fold`: the sweep's jobs are the K folds, whatever the launcher.
    Without `-m`, `cv.folds=K` and no `cv.fold` is a UserError (one run cannot be K folds), as
    is more than one fold count in one sweep."""
    args = list(args)
    folds = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("cv.folds=")]
    if not folds or any(a.lstrip("+").startswith("cv.fold=") for a in args):
        return args
    if any(a in INFO_FLAGS for a in args):  # --help, --cfg job ...: answered as they are
        return args
    value = folds[-1].strip()
    if not value.isdigit():
        if "," in value or "(" in value:
            raise UserError(
                f"cv.folds={value}: a cross-validation sweep takes one fold count; run one "
                "sweep per count"
            )
        return args  # not a count: conf/cv's CrossValidation names the problem
    if int(value) == 0:
        return args
    if "-m" not in args and "--multirun" not in args:
        raise UserError(
            f"cv.folds={value} trains one run per fold: add -m (python train.py -m "
            f"cv.folds={value}) to sweep cv.fold=0..{int(value) - 1}, or pick one fold with "
            "cv.fold=K"
        )
    return [*args, f"cv.fold=range(0,{int(value)})"]


#: `--help` with nothing else but overrides is answered by `fast_help`; with any other flag
#: (`--resolve`, `-m`, `--config-dir`, ...) Hydra answers itself
HELP_FLAGS = ("--help", "-h")


def fast_help(conf: Path, config_name: str, overrides: Sequence[str]) -> str:
    """What Hydra's `--help` prints (its `hydra.help.template`: the config groups and the config
    composed with `overrides`), composed once. Hydra's own `--help` composes again for every
    group it lists, about 2 s on this config tree; this lists the groups from `conf/` itself."""
    from graytransfer.config import compose

    cfg = compose(overrides, config_name=config_name, with_hydra=True)
    help_cfg = cfg.hydra.help
    job = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    return string.Template(str(help_cfg.template)).safe_substitute(
        APP_CONFIG_GROUPS=config_groups(conf),
        HYDRA_CONFIG_GROUPS="(see --hydra-help)",
        FLAGS_HELP="(see --hydra-help)",
        CONFIG=OmegaConf.to_yaml(job),
    )


def config_groups(conf: Path) -> str:
    """`group: option, option` for every config group under `conf` (not `hydra/`), sorted, as
    Hydra's help lists them."""
    lines = []
    groups = sorted(p.relative_to(conf).as_posix() for p in conf.rglob("*") if p.is_dir())
    for group in groups:
        if group == "hydra" or group.startswith("hydra/") or "__pycache__" in group:
            continue
        options = sorted(f.stem for f in (conf / group).glob("*.yaml") if f.is_file())
        if options:
            lines.append(f"{group}: {', '.join(options)}")
    return "\n".join(lines) + "\n"


#: the environment variable that moves every output (conf/paths/default.yaml: `root_dir`)
ROOT_VARIABLE = "GRAYTRANSFER_ROOT"


#: run folders that existed before Hydra would have made them (a user's own folder given as
#: hydra.run.dir): `graytransfer.run.start` never deletes one of these on a failed start
EXISTING_FOLDERS: set[Path] = set()


def folder_problem(folder: Path) -> str | None:
    """Why `folder` cannot be a run folder (`Not a directory: '/a/file'`, `Permission denied:
    '/ro'`), or None when it exists (or was just created) and can be written. The folder is
    created as Hydra would create it a moment later."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        return f"{err.strerror}: '{err.filename}'" if err.strerror else str(err)
    if not folder.is_dir():
        return f"'{folder}' is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"Permission denied: '{folder}'"
    return None


def check_output_folder(folder: str | Path, key: str) -> None:
    """A UserError naming `folder`, why it cannot be written and the setting to change (`key`,
    or `GRAYTRANSFER_ROOT` when the folder lies under it and the root itself is not a writable
    folder), unless `folder` can be a run folder."""
    path = Path(str(folder)).expanduser()
    problem = folder_problem(path)
    if problem is None:
        return
    root = os.environ.get(ROOT_VARIABLE)
    fix = f"set {key} to a writable folder"
    if root and _blocks(Path(root).expanduser(), path):
        fix = f"{ROOT_VARIABLE}='{root}' holds it: set {ROOT_VARIABLE} (or {key}) to a writable one"
    raise UserError(f"{key}: cannot create or write the output folder '{path}' ({problem}); {fix}")


def _blocks(root: Path, path: Path) -> bool:
    """Whether `root` holds `path` and is itself no writable folder (so the fix is the root)."""
    if not path.resolve().is_relative_to(root.resolve()):
        return False
    return not root.is_dir() or not os.access(root, os.W_OK | os.X_OK)


class OutputFolderCheck(Callback):
    """Hydra callback: the run folder (`hydra.run.dir`) or the sweep folder (`hydra.sweep.dir`)
    is checked before Hydra creates it; one that cannot be created or written stops the command
    with one line and exit status 2 (`check_output_folder`)."""

    def on_run_start(self, config: DictConfig, **kwargs: object) -> None:
        folder = Path(str(config.hydra.run.dir)).expanduser()
        if folder.is_dir():
            EXISTING_FOLDERS.add(folder.resolve())
        exit_on_user_error(lambda: check_output_folder(config.hydra.run.dir, "hydra.run.dir"))

    def on_multirun_start(self, config: DictConfig, **kwargs: object) -> None:
        exit_on_user_error(lambda: check_output_folder(config.hydra.sweep.dir, "hydra.sweep.dir"))
