"""`data.csv`'s three forms as (file, split) pairs: one file (its rows' split column decides),
a mapping `{split: file}`, or a list of files whose names say their splits (CheXpert's
`[train.csv, valid.csv]`). The rule for a name is `split_of_name`'s."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from graytransfer.data.base import SPLITS
from graytransfer.errors import UserError

#: a file name's word (case-insensitive) -> the split it names
SPLIT_WORDS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}
#: what the words of a file's stem are split at
WORD_BREAKS = re.compile(r"[-_.\s]+")
#: the three forms, for messages
FORMS = (
    "give data.csv=FILE (one file; its split column decides), "
    "data.csv={train: train.csv, val: valid.csv} or data.csv=[train.csv,valid.csv] (each "
    "file's split from its name)"
)


def split_of_name(element: str | Path) -> str | None:
    """The split a listed file's name gives: the last word of its stem (words split at `_`,
    `-`, `.` and spaces; case-insensitive) when it is `train`, `val`/`valid`/`validation` or
    `test` (`train.csv`, `VALID.csv`, `chexpert_test.csv`); None when no word of the stem
    names a split (`labels.csv`: its rows' split column decides). A name whose words name two
    splits (`train_val.csv`), or a split by a word other than the last (`valid_labels.csv`),
    is a UserError naming the element."""
    name = Path(str(element)).name
    words = [w for w in WORD_BREAKS.split(Path(name).stem.lower()) if w]
    named = sorted({SPLIT_WORDS[w] for w in words if w in SPLIT_WORDS})
    last = SPLIT_WORDS.get(words[-1]) if words else None
    if not named or (last and named == [last]):
        return last
    why = (
        f"names more than one split ({', '.join(named)})"
        if len(named) > 1
        else f"names split '{named[0]}' by a word that is not its last"
    )
    raise UserError(
        f"data.csv: the list element '{element}' is ambiguous: its file name {why}; a list "
        "takes each file's split from the last word of its name (train.csv, valid.csv, "
        f"chexpert_test.csv): rename the file, or {FORMS}"
    )


def _list_element(element: Any) -> tuple[Path, str | None]:
    """One element of a list `data.csv`: a file path and the split its name gives."""
    if not isinstance(element, (str, Path)) or not str(element).strip():
        raise UserError(f"data.csv: the list element {element!r} is not a CSV file path; {FORMS}")
    return Path(element).expanduser(), split_of_name(element)


def _check_once(files: list[tuple[Path, str | None]]) -> None:
    """A file given twice (as resolved paths) is a UserError: its rows would count twice."""
    seen: set[Path] = set()
    for file, _ in files:
        if file.resolve() in seen:
            raise UserError(f"data.csv: '{file}' is given twice; give each CSV file once")
        seen.add(file.resolve())


def csv_files(csv: str | Path | Mapping[str, Any] | Sequence[Any]) -> list[tuple[Path, str | None]]:
    """`data.csv` as (file, split) pairs: one file whose rows say their split (None); a mapping
    {split: file} whose files hold one split each; or a list of files, each file's split from
    its name (`split_of_name`; None: its rows say). Files naming the same split add up. A
    Hydra/YAML ListConfig or DictConfig is taken like a list or dict. Anything else, an empty
    list, or a file given twice is a UserError saying the three forms."""
    if isinstance(csv, (str, Path)):
        files = [(Path(csv).expanduser(), None)]
    elif isinstance(csv, Mapping) and csv:
        for split in csv:
            if split not in SPLITS:
                raise UserError(
                    f"data.csv: key '{split}' is not a split {list(SPLITS)}; give "
                    "data.csv={train: train.csv, val: valid.csv} (one file per split)"
                )
        files = [(Path(str(file)).expanduser(), str(split)) for split, file in csv.items()]
    elif isinstance(csv, Sequence) and not isinstance(csv, bytes) and csv:
        files = [_list_element(element) for element in csv]
    elif isinstance(csv, Sequence) and not isinstance(csv, bytes):
        raise UserError(f"data.csv: the list is empty; {FORMS}")
    else:
        raise UserError(
            f"data.csv: {csv!r} is neither a CSV file, a mapping of splits to files nor a list "
            f"of files; {FORMS}"
        )
    _check_once(files)
    return files


def csv_setting(
    csv: str | Path | Mapping[str, Any] | Sequence[Any],
) -> Path | dict[str, str] | list[str]:
    """`data.csv` checked (`csv_files`) in plain Python, as `CsvDataModule.csv` keeps it and
    its messages show it: the file, {split: file} or [file, ...] (`csv_files` reads each back
    to the same pairs)."""
    files = csv_files(csv)
    if isinstance(csv, (str, Path)):
        return files[0][0]
    if isinstance(csv, Mapping):
        return {str(split): str(file) for file, split in files}
    return [str(file) for file, _ in files]
