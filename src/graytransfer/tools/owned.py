"""What a tool may replace: only what a tool of this project wrote, recognised by its first line.

`predict` writes a CSV, `explain` a folder of maps, `report` a Markdown file, each at a path the
user may choose. Before writing, each tool checks its target here: a target that does not exist
is free; one that a tool of this project wrote earlier (its first line is that tool's header) is
replaced; anything else, a user's file or a folder holding other files, is refused in one line
naming it, and nothing is written or removed.
"""

from __future__ import annotations

from pathlib import Path

from graytransfer.errors import UserError


def first_line(path: Path) -> str:
    """The first line of the text file `path` ('' for an empty or binary file)."""
    try:
        with path.open(encoding="utf-8") as handle:
            return handle.readline().rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return ""


def check_own_file(path: Path, header: str, key: str, what: str, name: str) -> None:
    """`path` may be written: it does not exist, or its first line starts with `header` (an
    earlier `what`). A folder (`name`: the file to suggest in it) or any other file is a
    one-line UserError naming `key` and it."""
    if path.is_dir():
        raise UserError(f"{key}: '{path}' is a folder: give a file path, e.g. {key}={path / name}")
    if (path.exists() or path.is_symlink()) and not first_line(path).startswith(header):
        raise UserError(
            f"{key}: '{path}' exists and is not {what} (its first line is not '{header}'): "
            "it is never overwritten; choose another path"
        )


def check_own_folder(folder: Path, marker: str, header: str, key: str, what: str) -> None:
    """`folder` may be written into: it does not exist, is empty, or holds `marker` whose first
    line starts with `header` (an earlier `what`). A file, or a folder of other files, is a
    one-line UserError naming `key`, the folder and some of what it holds."""
    if not folder.exists():
        return
    if not folder.is_dir():
        raise UserError(f"{key}: '{folder}' is a file, not a folder: choose a folder path")
    entries = sorted(p.name for p in folder.iterdir())
    if not entries or first_line(folder / marker).startswith(header):
        return
    shown = ", ".join(entries[:3]) + (f" and {len(entries) - 3} more" if len(entries) > 3 else "")
    raise UserError(
        f"{key}: '{folder}' already holds files ({shown}) and is not {what} (no {marker}): "
        "nothing there is overwritten; choose a new or empty folder"
    )
