"""A CSV list of `path,label` rows (paths relative to the CSV), the usual form of medical sets;
multi-label CSVs (one 1/0/-1 column per label, or a `|`-separated label column) too. Reading and
checking the rows is `graytransfer.data.sources.csv_rows`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from graytransfer.data.labels import check_uncertain
from graytransfer.data.sources.csv_rows import (
    LabelFormat,
    Row,
    check_duplicates_option,
    drop_duplicates,
    image_file,
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
    rows = read_rows(csv_path, path_column, split_column, fmt, group_column)
    rows = drop_duplicates(rows, csv_path, duplicates)
    classes = class_list(rows, fmt, csv_path)
    index = {name: i for i, name in enumerate(classes)}
    items: Items = {}
    groups: dict[Path, str] = {}
    for row in rows:
        file = image_file(csv_path, row.path)
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
