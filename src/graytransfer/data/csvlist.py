"""A CSV list of `path,label` rows (paths relative to the CSV), the usual form of medical sets;
multi-label CSVs (one 1/0/-1 column per label, or a `|`-separated label column) too."""

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
from graytransfer.data.files import FileDataModule, Items
from graytransfer.data.labels import check_uncertain, parse_flag, split_names
from graytransfer.data.stratify import check_group_count, check_groups_apart
from graytransfer.errors import UserError

#: what `data.duplicates` may say about an image listed in two rows
DUPLICATES = ("error", "drop")
INTEGER = re.compile(r"-?[0-9]+")


def sort_labels(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if labels and all(INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


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


def _read_rows(
    csv_path: Path,
    path_column: str,
    split_column: str | None,
    fmt: LabelFormat,
    group_column: str | None,
) -> list[Row]:
    """Every row of the CSV, checked cell by cell (UserErrors name the line and column)."""
    if not csv_path.is_file():
        raise UserError(f"data.csv '{csv_path}' does not exist: give a CSV file of path,label rows")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        needed = [("path_column", path_column), *fmt.needed()]
        if group_column:
            needed.append(("group_column", group_column))
        _check_header(csv_path, header, needed)
        use_split = bool(split_column) and split_column in header
        rows = []
        for line, row in enumerate(reader, start=2):
            where = f"'{csv_path}' line {line}"
            path = (row[path_column] or "").strip()
            if not path:
                raise UserError(f"{where}: empty path or label (column '{path_column}')")
            split = (row[split_column] or "").strip().lower() if use_split else ""
            split = split or "train"
            if split not in SPLITS:
                raise UserError(f"{where}: split '{split}' is not one of {list(SPLITS)}")
            group = (row[group_column] or "").strip() if group_column else ""
            if group_column and not group:
                raise UserError(f"{where}: empty group in column '{group_column}'")
            label = _cells(row, fmt, where)
            rows.append(Row(line, split, path, label, group, _shown(row, fmt)))
    if not rows:
        raise UserError(f"data.csv '{csv_path}' has no rows")
    return rows


def _file(csv_path: Path, path: str) -> Path:
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
        by_file.setdefault(_file(csv_path, row.path), []).append(row)
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


def check_integer_labels(rows: list[Row], column: str, csv_path: Path) -> None:
    """A label column that holds class numbers (at least half of its rows are integers) must
    hold only integers, each written one way: a UserError names the first other values."""
    integer = [r for r in rows if INTEGER.fullmatch(str(r.label))]
    if not integer or 2 * len(integer) < len(rows):
        return
    other = [r for r in rows if not INTEGER.fullmatch(str(r.label))]
    if other:
        shown = ", ".join(f"'{r.label}' (line {r.line})" for r in other[:3])
        raise UserError(
            f"data.csv '{csv_path}': column '{column}' holds class numbers, but {len(other)} "
            f"label(s) are not integers: {shown}{' ...' if len(other) > 3 else ''}; write "
            "each label as a whole number (or every label as a class name)"
        )
    spellings: dict[int, str] = {}
    for row in integer:
        first = spellings.setdefault(int(row.label), str(row.label))
        if first != row.label:
            raise UserError(
                f"data.csv '{csv_path}' line {row.line}: label '{row.label}' in column "
                f"'{column}' is class {int(row.label)}, also written '{first}'; write each "
                "class number one way"
            )


def class_list(rows: list[Row], fmt: LabelFormat, csv_path: Path) -> list[str]:
    """The class (label) names of `rows`, in order; a `separator` column that names no label
    at all, or a class-number column holding other values, is a UserError."""
    if fmt.columns:
        return list(fmt.columns)
    if fmt.separator:
        classes = sort_labels({name for row in rows for name in row.label})
        if not classes:
            raise UserError(
                f"data.csv '{csv_path}': no row of column '{fmt.column}' names a label (every "
                f"cell is blank or '{fmt.no_label}', data.no_label), so there is nothing to "
                f"learn; check data.label_column and data.label_separator ('{fmt.separator}')"
            )
        return classes
    check_integer_labels(rows, fmt.column, csv_path)
    return sort_labels({str(row.label) for row in rows})


def read_list(
    csv_path: Path,
    path_column: str,
    split_column: str | None,
    fmt: LabelFormat | None = None,
    group_column: str | None = None,
    duplicates: str = "error",
) -> tuple[list[str], Items, dict[Path, str]]:
    """Class (or label) names, per-split (paths, labels) and, with `group_column`, each
    image's group. Rows without a split (or a CSV without the split column) are `train`.
    Multi-label labels are tuples of 1/0/-1, one entry per label. An image listed in two rows
    is refused or dropped (`drop_duplicates`), never split apart."""
    fmt = fmt or LabelFormat()
    rows = _read_rows(csv_path, path_column, split_column, fmt, group_column)
    rows = drop_duplicates(rows, csv_path, duplicates)
    classes = class_list(rows, fmt, csv_path)
    index = {name: i for i, name in enumerate(classes)}
    items: Items = {}
    groups: dict[Path, str] = {}
    for row in rows:
        file = _file(csv_path, row.path)
        paths, labels = items.setdefault(row.split, ([], []))
        paths.append(file)
        if fmt.columns:
            labels.append(row.label)
        elif fmt.separator:
            labels.append(tuple(int(name in row.label) for name in classes))
        else:
            labels.append(index[row.label])
        if group_column:
            groups[file] = row.group
    if "train" not in items:
        raise UserError(f"'{csv_path}' has no training rows (split 'train' or empty)")
    if group_column:
        check_groups_apart(
            {s: [groups[p] for p in items[s][0]] for s in items}, f"data.csv '{csv_path}'"
        )
    return classes, items, groups


class CsvDataModule(FileDataModule):
    """Images listed in a CSV (`path_column`, `label_column`; paths relative to the CSV's folder).

    An optional `split_column` (values train/val/test) fixes the split; a missing val or test part
    is split off the training rows by `val_split`/`test_split` (stratified, seeded). Labels may be
    names or numbers; classes are sorted. Missing or broken files are bad files (`on_bad_file`).

    Multi-label (`task=multilabel`): `label_columns` names one column per label (CheXpert: 1, 0,
    -1 uncertain, blank; `uncertain`: ones|zeros|ignore), or `label_separator` splits
    `label_column` into names (ChestX-ray14: `Atelectasis|Effusion`, `no_label` = none). Such
    splits are iteratively stratified. `group_column` (e.g. a patient id) keeps every group in
    one split, for every task; a split column that puts a group in two splits is an error, and
    so is a group split with fewer groups than splits to make.

    An image listed in two rows is an error (`duplicates="error"`); `duplicates="drop"` keeps
    the first of identical rows with a warning. Rows of one image with different labels, splits
    or groups are an error either way.
    """

    def __init__(
        self,
        csv: str,
        image_size: int | Sequence[int] = 224,
        path_column: str = "path",
        label_column: str = "label",
        split_column: str | None = "split",
        label_columns: Sequence[str] | None = None,
        label_separator: str | None = None,
        no_label: str | None = "No Finding",
        uncertain: str = "ignore",
        group_column: str | None = None,
        duplicates: str = "error",
        **kwargs,
    ) -> None:
        super().__init__(image_size, **kwargs)
        if csv in (None, "", "???"):
            raise UserError("data.csv is not set: pass data.csv=FILE, a CSV with path,label rows")
        self.csv = Path(csv).expanduser()
        self.path_column = path_column
        self.label_column = label_column
        self.split_column = split_column
        if label_columns and label_separator:
            raise UserError(
                "data.label_columns and data.label_separator are two multi-label formats: set one"
            )
        self.label_format = LabelFormat(
            column=label_column,
            columns=unique_columns(label_columns),
            separator=label_separator or None,
            no_label=no_label,
            uncertain=check_uncertain(uncertain),
        )
        self.group_column = group_column or None
        self.duplicates = check_duplicates_option(duplicates)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        classes, items, groups = read_list(
            self.csv,
            self.path_column,
            self.split_column,
            self.label_format,
            self.group_column,
            self.duplicates,
        )
        if self.group_column:
            self._check_group_count(items, groups)
        self.groups = groups or None
        self._build(classes, items, f"data.csv '{self.csv}'")

    def _check_group_count(self, items: Items, groups: dict[Path, str]) -> None:
        """UserError unless the training rows hold a group for train and one for each of val
        and test that is split off them (`check_group_count`)."""
        fractions = {
            s: f for s, f in (("val", self.val_split), ("test", self.test_split)) if s not in items
        }
        check_group_count(
            [groups[p] for p in items["train"][0]],
            fractions,
            f"data.group_column '{self.group_column}' of data.csv '{self.csv}'",
        )
