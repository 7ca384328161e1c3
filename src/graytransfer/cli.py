"""What every command-line entry point shares: a user's mistake is one line, never a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from hydra.errors import InstantiationException

from graytransfer.errors import UserError

T = TypeVar("T")


def user_error_in(error: BaseException) -> UserError | None:
    """The UserError behind `error`, also when Hydra's `instantiate` wrapped it."""
    while error is not None:
        if isinstance(error, UserError):
            return error
        if not isinstance(error, InstantiationException):
            return None
        error = error.__cause__
    return None


def exit_on_user_error(run: Callable[[], T]) -> T:
    """Call `run`; a UserError (wrapped or not) prints `graytransfer: error: ...` and exits 2."""
    try:
        return run()
    except (UserError, InstantiationException) as err:
        found = user_error_in(err)
        if found is None:
            raise
        print(f"graytransfer: error: {found}", file=sys.stderr)
        raise SystemExit(2) from None
