"""A CSV list of `path,label` rows (paths relative to the CSV), the usual form of medical sets;
multi-label CSVs (one 1/0/-1 column per label, or a `|`-separated label column) too. Reading and
checking the rows is `graytransfer.data.sources.csv_rows`."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graytransfer.data.labels import check_uncertain
from graytransfer.data.sources.csv_files import csv_files, csv_setting
from graytransfer.data.sources.csv_rows import (
    LabelFormat,
    Row,
    check_duplicates_option,
    compile_group_pattern,
    csv_header,
    drop_duplicates,
    image_file,
    read_columns,
    read_rows,
    unique_columns,
)
from graytransfer.data.sources.file_base import FileDataModule, Items
from graytransfer.data.split.stratify import check_group_count, check_groups_apart
from graytransfer.errors import UserError

INTEGER = re.compile(r"-?[0-9]+")


def sort_labels(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if labels and all(INTEGER.fullmatch(label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


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


def _check_files_apart(seen: dict[Path, Path], csv_path: Path, rows: list[Row]) -> None:
    """An image listed in two of the CSV files is a UserError naming it and both files."""
    for row in rows:
        file = image_file(csv_path, row.path)
        first = seen.setdefault(file, csv_path)
        if first != csv_path:
            raise UserError(
                f"data.csv: '{row.path}' is listed in '{first}' and in '{csv_path}' (line "
                f"{row.line}); an image belongs to one split: remove one of the rows"
            )


def read_list(
    csv_path: Path | Mapping[str, Any] | Sequence[Any],
    path_column: str,
    split_column: str | None,
    fmt: LabelFormat | None = None,
    group_column: str | None = None,
    duplicates: str = "error",
    group_pattern: re.Pattern | None = None,
) -> tuple[list[str], Items, dict[Path, str]]:
    """Class (or label) names, per-split (paths, labels) and, with `group_column` (or
    `group_pattern`, the group from the path), each image's group. `csv_path` is one CSV file,
    {split: file} or a list of files (`csv_files`). Rows without a split (or a CSV without the
    split column) are `train`. Multi-label labels are tuples of 1/0/-1, one entry per label.
    An image listed in two rows (or two files) is refused or dropped (`drop_duplicates`), never
    split apart."""
    fmt = fmt or LabelFormat()
    grouped = bool(group_column) or group_pattern is not None
    files, seen, read = csv_files(csv_path), {}, []
    for file_path, split in files:
        rows = read_rows(
            file_path, path_column, split_column, fmt, group_column, split, group_pattern
        )
        rows = drop_duplicates(rows, file_path, duplicates)
        if len(files) > 1:
            _check_files_apart(seen, file_path, rows)
        read.append((file_path, rows))
    csv_path = Path(", ".join(str(f) for f, _ in files))  # how messages name the CSV(s)
    classes = class_list([row for _, rows in read for row in rows], fmt, csv_path)
    index = {name: i for i, name in enumerate(classes)}
    items: Items = {}
    groups: dict[Path, str] = {}
    for file, row in ((image_file(f, row.path), row) for f, rows in read for row in rows):
        paths, labels = items.setdefault(row.split, ([], []))
        paths.append(file)
        if fmt.columns:
            labels.append(row.label)
        elif fmt.separator:
            labels.append(tuple(int(name in row.label) for name in classes))
        else:
            labels.append(index[row.label])
        if grouped:
            groups[file] = row.group
    if "train" not in items:
        raise UserError(f"'{csv_path}' has no training rows (split 'train' or empty)")
    if grouped:
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

    `csv` may map splits to files (CheXpert: `{train: train.csv, val: valid.csv}`; each file's
    rows are that split, paths relative to their own CSV; an image in two files is an error),
    or list files whose names give their splits (`[train.csv, valid.csv]`; `csv_files`).
    `group_pattern` (a regular expression, e.g. `patient(\\d+)`) takes the group from each
    image's path instead of a column: its first capture group, or the whole match.
    The CSV's other columns stay on disk: `columns` names them and `column_values` reads the
    ones asked for (`eval.subgroups`).
    """

    def __init__(
        self,
        csv: str | Mapping[str, str] | Sequence[str],
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
        group_pattern: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(image_size, **kwargs)
        if csv is None or (isinstance(csv, str) and csv in ("", "???")):
            raise UserError("data.csv is not set: pass data.csv=FILE, a CSV with path,label rows")
        self.csv = csv_setting(csv)
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
        self.group_pattern = compile_group_pattern(group_pattern, self.group_column)
        self.duplicates = check_duplicates_option(duplicates)

    @property
    def columns(self) -> list[str]:
        """The CSV's column names (with several files, each name once, in file order)."""
        names: dict[str, None] = {}
        for file, _ in csv_files(self.csv):
            names.update(dict.fromkeys(csv_header(file) if file.is_file() else []))
        return list(names)

    def column_values(self, names: Sequence[str]) -> dict[Path, dict[str, str]]:
        """{image file: {column: cell}} of the columns `names` (each in `columns`): the
        first row of each image; a file without a column gives "" for it."""
        found: dict[Path, dict[str, str]] = {}
        for file, _ in csv_files(self.csv):
            own = [n for n in names if n in csv_header(file)]
            for image, cells in read_columns(file, self.path_column, own).items():
                found.setdefault(image, {n: cells.get(n, "") for n in names})
        return found

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
            self.group_pattern,
        )
        if groups:
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
            f"data.group_column '{self.group_column}' of data.csv '{self.csv}'"
            if self.group_column
            else f"data.group_pattern '{self.group_pattern.pattern}' of data.csv '{self.csv}'",
        )
