"""Reading a CSV list of images and checking it row by row: the label format (one class per
row, CheXpert-style 1/0/-1 columns, `|`-separated names), the header, every cell, and images
listed in two rows. Every mistake is a one-line UserError naming the line and column; what the
checked rows mean (classes, splits, groups) is `graytransfer.data.sources.csvlist`'s."""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from graytransfer.data.base import SPLITS
from graytransfer.data.labels import parse_flag, split_names
from graytransfer.errors import UserError

#: what `data.duplicates` may say about an image listed in two rows
DUPLICATES = ("error", "drop")


@dataclass(frozen=True)
class LabelFormat:
    """How a CSV row holds its label(s).

    One label per image: `column` holds a class name or number. Several labels per image
    (`task=multilabel`): `columns` lists one column per label holding 1/0/-1/blank (CheXpert;
    `uncertain` says what -1 becomes, `graytransfer.data.labels`), or `separator` splits
    `column` into label names (ChestX-ray14's `Finding Labels`, `|`), `no_label` meaning none.
    """

    column: str = "label"
    columns: tuple[str, ...] = ()
    separator: str | None = None
    no_label: str | None = "No Finding"
    uncertain: str = "ignore"

    @property
    def multilabel(self) -> bool:
        return bool(self.columns) or bool(self.separator)

    def needed(self) -> list[tuple[str, str]]:
        """(config key, column) of every label column the CSV must have."""
        if self.columns:
            return [("label_columns", c) for c in self.columns]
        return [("label_column", self.column)]


@dataclass(frozen=True)
class Row:
    """One CSV row as read: its line number, split, path text, label (class text, or a tuple of
    1/0/-1 flags or label names), group (or "") and the label cells as written (`shown`)."""

    line: int
    split: str
    path: str
    label: str | tuple
    group: str
    shown: str


def unique_columns(columns: Sequence[str] | None) -> tuple[str, ...]:
    """`data.label_columns` as a tuple; a name listed twice (two outputs of one name) is a
    UserError naming it."""
    names = tuple(str(c) for c in columns or ())
    for name, count in Counter(names).items():
        if count > 1:
            raise UserError(
                f"data.label_columns: '{name}' is listed {count} times in {list(names)}; "
                "name each label column once"
            )
    return names


def check_duplicates_option(duplicates: str) -> str:
    if duplicates not in DUPLICATES:
        raise UserError(f"data.duplicates: '{duplicates}' is not one of {list(DUPLICATES)}")
    return duplicates


def _check_header(csv_path: Path, header: list[str], needed: list[tuple[str, str]]) -> None:
    for key, column in needed:
        if column not in header:
            near = get_close_matches(column, header, n=1)
            hint = f"; did you mean '{near[0]}'?" if near else ""
            raise UserError(
                f"data.{key}: column '{column}' is not in '{csv_path}' (columns: {header}){hint}"
            )


def _cells(row: dict, fmt: LabelFormat, where: str) -> str | tuple[str | int, ...]:
    """A row's label: the class text, or the raw multi-label cells/names (parsed later)."""
    if fmt.columns:
        return tuple(
            parse_flag(row[c], fmt.uncertain, f"{where} column '{c}'") for c in fmt.columns
        )
    text = (row[fmt.column] or "").strip()
    if fmt.separator:
        return tuple(sorted(set(split_names(text, fmt.separator, fmt.no_label))))
    if not text:
        raise UserError(
            f"{where}: empty path or label (column '{fmt.column}'); fill it or drop the row"
        )
    return text


def _shown(row: dict, fmt: LabelFormat) -> str:
    """The label cell(s) of `row` as written, for messages."""
    return ",".join((row[c] or "").strip() for c in fmt.columns or (fmt.column,))


def read_rows(
    csv_path: Path,
    path_column: str,
    split_column: str | None,
    fmt: LabelFormat,
    group_column: str | None,
    split: str | None = None,
    group_pattern: re.Pattern | None = None,
) -> list[Row]:
    """Every row of the CSV, checked cell by cell (UserErrors name the line and column).
    `split` puts every row in that split (the split column is not read); `group_pattern`
    takes each row's group from its path (`group_from_path`)."""
    if not csv_path.is_file():
        raise UserError(f"data.csv '{csv_path}' does not exist: give a CSV file of path,label rows")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        needed = [("path_column", path_column), *fmt.needed()]
        if group_column:
            needed.append(("group_column", group_column))
        _check_header(csv_path, header, needed)
        use_split = not split and bool(split_column) and split_column in header
        rows = []
        for line, row in enumerate(reader, start=2):
            where = f"'{csv_path}' line {line}"
            path = (row[path_column] or "").strip()
            if not path:
                raise UserError(f"{where}: empty path or label (column '{path_column}')")
            part = (row[split_column] or "").strip().lower() if use_split else ""
            part = split or part or "train"
            if part not in SPLITS:
                raise UserError(f"{where}: split '{part}' is not one of {list(SPLITS)}")
            group = (row[group_column] or "").strip() if group_column else ""
            if group_column and not group:
                raise UserError(f"{where}: empty group in column '{group_column}'")
            if group_pattern is not None:
                group = group_from_path(group_pattern, path, where)
            label = _cells(row, fmt, where)
            rows.append(Row(line, part, path, label, group, _shown(row, fmt)))
    if not rows:
        raise UserError(f"data.csv '{csv_path}' has no rows")
    return rows


def compile_group_pattern(pattern: str | None, group_column: str | None) -> re.Pattern | None:
    """`data.group_pattern` compiled (None when unset); a pattern that is not a regular
    expression, or one set together with `data.group_column`, is a UserError."""
    if not pattern:
        return None
    if group_column:
        raise UserError(
            f"data.group_pattern '{pattern}' and data.group_column '{group_column}' both give "
            "the group: set one of them"
        )
    try:
        return re.compile(str(pattern))
    except re.error as error:
        raise UserError(
            f"data.group_pattern '{pattern}' is not a regular expression ({error})"
        ) from None


def group_from_path(pattern: re.Pattern, path: str, where: str) -> str:
    """The group in an image's path as the CSV writes it: the first capture group of the
    pattern's first match (`re.search`), or the whole match when the pattern has no group; a
    path it does not match (or an empty capture) is a UserError naming both."""
    found = pattern.search(path)
    group = (found.group(1) if pattern.groups else found.group(0)) if found else None
    if not group:
        raise UserError(
            f"{where}: data.group_pattern '{pattern.pattern}' does not match the path "
            f"'{path}'; fix the pattern (its first (...) group, or the whole match, is the group)"
        )
    return group


def csv_header(csv_path: Path) -> list[str]:
    """The column names of a CSV file (its first line)."""
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle).fieldnames or [])


def read_columns(
    csv_path: Path, path_column: str, columns: Sequence[str]
) -> dict[Path, dict[str, str]]:
    """{image file: {column: stripped cell}} of `columns` (in the CSV's header), the first row
    of each image: the cells a data module does not keep, read again when asked for."""
    found: dict[Path, dict[str, str]] = {}
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            file = image_file(csv_path, (row[path_column] or "").strip())
            found.setdefault(file, {c: (row[c] or "").strip() for c in columns})
    return found


def image_file(csv_path: Path, path: str) -> Path:
    """The image file a CSV path names (relative paths are relative to the CSV's folder)."""
    file = Path(path).expanduser()
    file = file if file.is_absolute() else csv_path.parent / file
    return Path(os.path.normpath(file))


def _conflict(first: Row, other: Row) -> str | None:
    """What two rows of one image disagree on ('labels', 'splits', 'groups'), or None."""
    for field, name in (("label", "labels"), ("split", "splits"), ("group", "groups")):
        if getattr(first, field) != getattr(other, field):
            return name
    return None


def _listing(repeats: dict[Path, list[Row]], limit: int = 3) -> str:
    """`'a.png' (lines 2, 9), ...`: the first `limit` repeated images and their lines."""
    shown = [
        f"'{rows[0].path}' (lines {', '.join(str(r.line) for r in rows)})"
        for rows in list(repeats.values())[:limit]
    ]
    return ", ".join(shown) + (" ..." if len(repeats) > limit else "")


def drop_duplicates(rows: list[Row], csv_path: Path, duplicates: str = "error") -> list[Row]:
    """`rows` with each image (file) listed once, never split apart.

    Rows of one image that disagree on its label, split or group are always a UserError naming
    the image, lines and values. Identical repeats are a UserError naming them under
    `duplicates="error"`; under `"drop"` the first row of each image is kept and a warning names
    the count and the first images.
    """
    by_file: dict[Path, list[Row]] = {}
    for row in rows:
        by_file.setdefault(image_file(csv_path, row.path), []).append(row)
    repeats = {f: rs for f, rs in by_file.items() if len(rs) > 1}
    if not repeats:
        return rows
    for same in repeats.values():
        for other in same[1:]:
            what = _conflict(same[0], other)
            if what:
                values = {
                    "labels": (same[0].shown, other.shown),
                    "splits": (same[0].split, other.split),
                    "groups": (same[0].group, other.group),
                }[what]
                raise UserError(
                    f"data.csv '{csv_path}' lists '{other.path}' with different {what} "
                    f"('{values[0]}' on line {same[0].line}, '{values[1]}' on line "
                    f"{other.line}); an image has one: fix or remove one of the rows"
                )
    extra = sum(len(rs) - 1 for rs in repeats.values())
    if duplicates == "error":
        raise UserError(
            f"data.csv '{csv_path}' lists {len(repeats)} image(s) more than once "
            f"({_listing(repeats)}); an image in two rows could be in train and in test: "
            "remove the repeated rows, or set data.duplicates=drop to keep the first of each"
        )
    warnings.warn(
        f"data.csv '{csv_path}': dropped {extra} repeated row(s) of {len(repeats)} image(s) "
        f"listed more than once (data.duplicates=drop): {_listing(repeats)}",
        UserWarning,
        stacklevel=2,
    )
    firsts = {id(rs[0]) for rs in by_file.values()}
    return [row for row in rows if id(row) in firsts]
