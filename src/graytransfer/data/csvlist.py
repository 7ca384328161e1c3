"""A CSV list of `path,label` rows (paths relative to the CSV), the usual form of medical sets;
multi-label CSVs (one 1/0/-1 column per label, or a `|`-separated label column) too."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import get_close_matches
from pathlib import Path

from graytransfer.data.base import SPLITS
from graytransfer.data.files import FileDataModule, Items
from graytransfer.data.labels import check_uncertain, parse_flag, split_names
from graytransfer.data.stratify import check_groups_apart
from graytransfer.errors import UserError


def sort_labels(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if all(label.lstrip("-").isdigit() for label in labels):
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
        return tuple(split_names(text, fmt.separator, fmt.no_label))
    if not text:
        raise UserError(
            f"{where}: empty path or label (column '{fmt.column}'); fill it or drop the row"
        )
    return text


def read_list(
    csv_path: Path,
    path_column: str,
    split_column: str | None,
    fmt: LabelFormat | None = None,
    group_column: str | None = None,
) -> tuple[list[str], Items, dict[Path, str]]:
    """Class (or label) names, per-split (paths, labels) and, with `group_column`, each
    image's group. Rows without a split (or a CSV without the split column) are `train`.
    Multi-label labels are tuples of 1/0/-1, one entry per label."""
    fmt = fmt or LabelFormat()
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
            rows.append((split, path, _cells(row, fmt, where), group))
    if not rows:
        raise UserError(f"data.csv '{csv_path}' has no rows")
    if fmt.columns:
        classes = list(fmt.columns)
    elif fmt.separator:
        classes = sort_labels({name for *_, names, _ in rows for name in names})
    else:
        classes = sort_labels({label for *_, label, _ in rows})
    index = {name: i for i, name in enumerate(classes)}
    items: Items = {}
    groups: dict[Path, str] = {}
    for split, path, label, group in rows:
        file = Path(path).expanduser()
        file = file if file.is_absolute() else csv_path.parent / file
        paths, labels = items.setdefault(split, ([], []))
        paths.append(file)
        if fmt.columns:
            labels.append(label)
        elif fmt.separator:
            labels.append(tuple(int(name in label) for name in classes))
        else:
            labels.append(index[label])
        if group_column:
            groups[file] = group
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
    one split, for every task; a split column that puts a group in two splits is an error.
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
            columns=tuple(str(c) for c in label_columns or ()),
            separator=label_separator or None,
            no_label=no_label,
            uncertain=check_uncertain(uncertain),
        )
        self.group_column = group_column or None

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        classes, items, groups = read_list(
            self.csv, self.path_column, self.split_column, self.label_format, self.group_column
        )
        self.groups = groups or None
        self._build(classes, items, f"data.csv '{self.csv}'")
