"""A CSV list of `path,label` rows (paths relative to the CSV), the usual form of medical sets."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from graytransfer.data.base import SPLITS
from graytransfer.data.files import FileDataModule, Items
from graytransfer.errors import UserError


def sort_labels(labels: set[str]) -> list[str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    if all(label.lstrip("-").isdigit() for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


def read_list(
    csv_path: Path, path_column: str, label_column: str, split_column: str | None
) -> tuple[list[str], Items]:
    """Class names and per-split (paths, labels) from the CSV; rows without a split (or a CSV
    without the split column) are `train`."""
    if not csv_path.is_file():
        raise UserError(f"data.csv '{csv_path}' does not exist: give a CSV file of path,label rows")
    with open(csv_path, newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = reader.fieldnames or []
        for key, column in (("path_column", path_column), ("label_column", label_column)):
            if column not in header:
                raise UserError(
                    f"data.{key}: column '{column}' is not in '{csv_path}' (columns: {header})"
                )
        use_split = bool(split_column) and split_column in header
        rows = []
        for line, row in enumerate(reader, start=2):
            path, label = (row[path_column] or "").strip(), (row[label_column] or "").strip()
            if not path or not label:
                raise UserError(f"'{csv_path}' line {line}: empty path or label")
            split = (row[split_column] or "").strip().lower() if use_split else ""
            split = split or "train"
            if split not in SPLITS:
                raise UserError(
                    f"'{csv_path}' line {line}: split '{split}' is not one of {list(SPLITS)}"
                )
            rows.append((split, path, label))
    if not rows:
        raise UserError(f"data.csv '{csv_path}' has no rows")
    classes = sort_labels({label for _, _, label in rows})
    index = {name: i for i, name in enumerate(classes)}
    items: Items = {}
    for split, path, label in rows:
        file = Path(path).expanduser()
        file = file if file.is_absolute() else csv_path.parent / file
        paths, labels = items.setdefault(split, ([], []))
        paths.append(file)
        labels.append(index[label])
    if "train" not in items:
        raise UserError(f"'{csv_path}' has no training rows (split 'train' or empty)")
    return classes, items


class CsvDataModule(FileDataModule):
    """Images listed in a CSV (`path_column`, `label_column`; paths relative to the CSV's folder).

    An optional `split_column` (values train/val/test) fixes the split; a missing val or test part
    is split off the training rows by `val_split`/`test_split` (stratified, seeded). Labels may be
    names or numbers; classes are sorted. Missing or broken files are bad files (`on_bad_file`).
    """

    def __init__(
        self,
        csv: str,
        image_size: int | Sequence[int] = 224,
        path_column: str = "path",
        label_column: str = "label",
        split_column: str | None = "split",
        **kwargs,
    ) -> None:
        super().__init__(image_size, **kwargs)
        if csv in (None, "", "???"):
            raise UserError("data.csv is not set: pass data.csv=FILE, a CSV with path,label rows")
        self.csv = Path(csv).expanduser()
        self.path_column = path_column
        self.label_column = label_column
        self.split_column = split_column

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        classes, items = read_list(self.csv, self.path_column, self.label_column, self.split_column)
        self._build(classes, items, f"data.csv '{self.csv}'")
