"""What every command-line entry point shares: a user's mistake is one line, never a traceback.

`exit_on_user_error(run)` is the one wrapper: `train.py`, every `python -m graytransfer.tools.*`
and every benchmark go through it, so each prints `graytransfer: error: ...` and exits with
status 2. `hydra_entry(config_name, task)` makes a `@hydra.main` entry point over the project's
config tree (found by `graytransfer.config.conf_dir`) that goes through it too.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import HydraException, InstantiationException
from omegaconf import DictConfig

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
    objective)."""
    import hydra

    from graytransfer.config import conf_dir

    def main() -> T | None:
        conf = exit_on_user_error(conf_dir)

        def run(cfg: DictConfig) -> T:
            return exit_on_user_error(lambda: task(cfg))

        return hydra.main(version_base="1.3", config_path=str(conf), config_name=config_name)(run)()

    return main
