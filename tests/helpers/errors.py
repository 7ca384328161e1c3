"""Assertions on the one-line errors users see."""

from __future__ import annotations

import pytest

from graytransfer.cli import user_error_in

#: a folder data set that does not exist: a check that comes first never reads it
NO_DATA = ["data=folder", "data.num_workers=0"]


def user_message(run) -> str:
    """The one-line UserError message `run()` raises (also when Hydra's instantiate wraps it)."""
    with pytest.raises(Exception) as info:
        run()
    found = user_error_in(info.value)
    assert found is not None, f"not a UserError: {info.value!r}"
    assert "\n" not in str(found)
    return str(found)
