"""The all-pairs combination matrix (tests/run/test_combinations.py, docs/combinations.md).

A *cell* is one choice per group: `{"task": "binary", "data": "dicom", "intensity": "ct", ...}`.
The choices are read from `conf/` (every YAML file of conf/task, conf/intensity, conf/adapt,
conf/logger; every single-callback file of conf/callbacks as an on/off switch; every file of
conf/trainer that runs on a CPU), so a new file there joins the matrix by existing. Two groups
cannot be read from `conf/`: the data paths (each needs files written on disk: `DATA_PATHS`) and
the models (two small ones: `MODELS`); `NOT_IN_MATRIX` names every conf/data file that is not a
data path here, with the reason, and a fast test fails on a conf/data file in neither.

The cells run in helpers/matrix_cells.py. The covering array is built here, greedily (see
`covering_array` for why not allpairspy); `REFUSALS` is the table of combinations the project
refuses in one line, with the message expected; docs/combinations.md lists the same table (a
fast test checks that each row's message is there)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from pathlib import Path

from omegaconf import OmegaConf

Cell = dict[str, str]
Choices = dict[str, list[str]]

#: the single-callback files are on/off switches (`on`/`off`); these files are sets of them
CALLBACK_SETS = ("default", "none")
ON, OFF = "on", "off"
CALLBACK_PREFIX = "callback:"

#: the models: timm's untrained test EfficientNet (tests/helpers/configs.py TEST_NET) and the
#: packaged ImageNet Lite0, both at IMAGE_SIZE
MODELS: dict[str, list[str]] = {
    "test_net": ["model=timm", "model.name=test_efficientnet", "model.pretrained=false"],
    "lite0": ["model=lite0"],
}
#: every cell trains, and every shard folder is stored, at this size
IMAGE_SIZE = 32


@dataclass(frozen=True)
class DataPath:
    """How a data path is built: overrides of conf/train.yaml (`{root}` is the session's data
    folder, see `write_data`), the folder of images `tools.predict` reads, and the window
    (`intensity.center`, `intensity.width`) that `intensity=window` needs on these values."""

    overrides: tuple[str, ...]
    predict_input: str
    window: tuple[float, float]
    full_depth: bool = False


DATA_PATHS: dict[str, DataPath] = {
    "folder8": DataPath(("data=folder", "data.root={root}/png8"), "{root}/png8/c0", (128.0, 256.0)),
    "folder16": DataPath(
        ("data=folder", "data.root={root}/png16", "data.bit_depth=16"),
        "{root}/png16/c0",
        (800.0, 1600.0),
        full_depth=True,
    ),
    "dicom": DataPath(
        ("data=folder", "data.root={root}/dicom", "data.bit_depth=16"),
        "{root}/dicom/c0",
        (40.0, 400.0),
        full_depth=True,
    ),
    "csv_single": DataPath(
        ("data=csv", "data.csv={root}/csv/single.csv"), "{root}/csv/images", (128.0, 256.0)
    ),
    "csv_multi": DataPath(
        ("data=csv", "data.csv={root}/csv/multi.csv", "data.label_columns=[A,B]"),
        "{root}/csv/images",
        (128.0, 256.0),
    ),
    "digits": DataPath(("data=digits",), "{root}/png8/c0", (8.0, 16.0)),
    "shards8": DataPath(
        ("data=shards", "data.root={root}/shards8"), "{root}/png8/c0", (128.0, 256.0)
    ),
    "shards16": DataPath(
        ("data=shards", "data.root={root}/shards16"),
        "{root}/png16/c0",
        (800.0, 1600.0),
        full_depth=True,
    ),
}

#: conf/data files that are no data path of the matrix, and why
NOT_IN_MATRIX = {
    "mnist": "downloads (torchvision); the IDX reader is tested on written files",
    "emnist": "downloads (torchvision); the IDX reader is tested on written files",
    "kmnist": "downloads (torchvision); the IDX reader is tested on written files",
    "fashion_mnist": "optional data (Debian's dataset-fashion-mnist or a download)",
    "medmnist": "downloads; the .npz reader is tested on written files",
    "textures": "8-bit images in memory, the same path as digits",
}
#: the conf/data choice each data path is built with
DATA_CHOICE = {name: path.overrides[0].split("=", 1)[1] for name, path in DATA_PATHS.items()}


def yaml_names(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.yaml") if p.is_file())


def cpu_trainers(conf: Path) -> list[str]:
    """conf/trainer files that name the CPU accelerator (`cpu`, `ddp_cpu`): the ones a machine
    without a GPU runs."""
    found = []
    for name in yaml_names(conf / "trainer"):
        text = (conf / "trainer" / f"{name}.yaml").read_text()
        if re.search(r"^accelerator:\s*cpu\s*$", text, re.M):
            found.append(name)
    return found


def single_callbacks(conf: Path) -> list[str]:
    """conf/callbacks files that each define one callback (not the `default`/`none` sets)."""
    names = []
    for name in yaml_names(conf / "callbacks"):
        if name in CALLBACK_SETS:
            continue
        node = OmegaConf.load(conf / "callbacks" / f"{name}.yaml")
        if any(OmegaConf.is_dict(v) and "_target_" in v for v in node.values()):
            names.append(name)
    return names


def choices_from_conf(conf: Path) -> Choices:
    """Every group of the matrix and its choices, the cheapest first (the covering array fills
    a free place with its group's first choice)."""
    groups: Choices = {
        "task": yaml_names(conf / "task"),
        "data": list(DATA_PATHS),
        "intensity": yaml_names(conf / "intensity"),
        "adapt": yaml_names(conf / "adapt"),
        "logger": yaml_names(conf / "logger"),
        "model": list(MODELS),
        "trainer": cpu_trainers(conf),
        "eval": yaml_names(conf / "eval"),
        "calibration": yaml_names(conf / "calibration"),
        # k-fold cross-validation (conf/cv/kfold.yaml, off by default): on = fold 1 of 2
        "cv": [OFF, ON],
    }
    for name in single_callbacks(conf):
        groups[CALLBACK_PREFIX + name] = [OFF, ON]
    return groups


#: choices that cost many times a cell in one process (DDP: 2 processes, each importing torch):
#: the covering array pairs them once with every other choice (see `covering_array`)
EXPENSIVE = {"trainer": ("ddp_cpu",)}


@dataclass(frozen=True)
class Refusal:
    """A combination the project refuses before any work, in one line matching `message`.
    `when`: group -> the choices it applies to; a cell matches when every group matches."""

    name: str
    when: Mapping[str, tuple[str, ...]]
    message: str
    reason: str
    stage: str = "train"
    docs: str = field(default="", compare=False)
    #: other choices of the cell that checks this refusal (`refusal_cells`), where the pair is
    #: refused whatever the third group holds and one of its choices shows this message best
    shown_with: Mapping[str, str] = field(default_factory=dict, compare=False)

    def matches(self, cell: Mapping[str, str]) -> bool:
        return all(cell.get(group) in values for group, values in self.when.items())


SINGLE_LABEL = tuple(n for n in DATA_PATHS if n != "csv_multi")
EIGHT_BIT = tuple(n for n, p in DATA_PATHS.items() if not p.full_depth)
FULL_DEPTH = tuple(n for n, p in DATA_PATHS.items() if p.full_depth)

#: EXPECTED REFUSALS: each row is listed in docs/combinations.md with its reason
REFUSALS: list[Refusal] = [
    Refusal(
        "multilabel needs several labels per image",
        {"task": ("multilabel",), "data": SINGLE_LABEL},
        r"task=multilabel: data=\w+ gives one label per image",
        "a data path with one label per image has nothing to learn several labels from",
    ),
    Refusal(
        "several labels per image need task=multilabel",
        {"task": ("multiclass", "binary"), "data": ("csv_multi",)},
        r"data=csv gives 2 labels per image.*set task=multilabel",
        "a CSV with label columns holds several labels per image; one class per image cannot "
        "hold them",
    ),
    Refusal(
        "binary needs exactly two classes",
        {"task": ("binary",), "data": ("digits",)},
        r"task=binary: data=digits has 10 classes .*, not 2",
        "one logit for the positive class: a binary task takes two classes",
    ),
    Refusal(
        "dicom_window needs DICOM files",
        {"intensity": ("dicom_window",), "data": tuple(n for n in DATA_PATHS if n != "dicom")},
        r"intensity=dicom_window: .*DICOM file",
        "the window comes from the DICOM files' own WindowCenter/WindowWidth",
    ),
    Refusal(
        "full-depth data needs an intensity mapping",
        {"intensity": ("none",), "data": FULL_DEPTH},
        r"intensity=none takes 8-bit images, but the data hands the model u?int16 values",
        "intensity=none passes uint8 values through; 16-bit or HU values need a mapping onto "
        "0..255",
    ),
    Refusal(
        "activation maps need one class per image",
        {"task": ("multilabel",), CALLBACK_PREFIX + "activation_maps": (ON,)},
        r"callbacks\.activation_maps: activation maps are drawn for task=multiclass or binary",
        "a class activation map shows the evidence for one class of an image",
    ),
    Refusal(
        "multi-label data has no single class to map",
        {"data": ("csv_multi",), CALLBACK_PREFIX + "activation_maps": (ON,)},
        r"callbacks\.activation_maps: activation maps are drawn for task=multiclass or binary",
        "several labels per image take task=multilabel, which activation maps refuse; any "
        "other task refuses the data",
        shown_with={"task": "multilabel"},
    ),
    Refusal(
        "shard folders cannot be folded",
        {"cv": (ON,), "data": ("shards8", "shards16")},
        r"cv\.folds=2: ShardDataModule holds its splits as .* which cannot be folded",
        "a shard folder's train/val/test are written once, fixed; cross-validation folds the "
        "source data (data=folder or data=csv)",
    ),
    Refusal(
        "no multi-label DICOM data path",
        {"task": ("multilabel",), "intensity": ("dicom_window",)},
        r"intensity=dicom_window: .*DICOM file",
        "the matrix's several-labels data is a CSV of PNG files, and dicom_window needs DICOM "
        "files (a multi-label CSV of DICOM files is not a data path here)",
        shown_with={"data": "csv_multi"},
    ),
]


def expected_refusals(cell: Mapping[str, str]) -> list[Refusal]:
    return [r for r in REFUSALS if r.matches(cell)]


def refused(cell: Mapping[str, str]) -> bool:
    return any(r.matches(cell) for r in REFUSALS)


def covering_array(
    choices: Choices,
    allowed: Callable[[Mapping[str, str]], bool] = lambda cell: True,
    expensive: Mapping[str, Sequence[str]] = EXPENSIVE,
) -> list[Cell]:
    """Cells that hold every pair of choices of two groups that `allowed` lets meet.

    The array is built here (`_missing_pairs`, greedy with backtracking: each new cell starts
    from an uncovered pair and fills the other groups with the choices that cover most
    uncovered pairs). allpairspy was tried first: with the refusals as its `filter_func` its
    59 rows left 194 of the 1448 allowed pairs uncovered, and completing them took 151 cells;
    the greedy fill alone covers every pair in 94 (measured on this conf/, 2026-12-06). It is
    deterministic (no seed: a failing cell exists on every machine), and a pair that no
    allowed cell can hold is an error naming it, so each one is a documented refusal.

    Expensive choices (`expensive`: DDP's two processes) are left out of the pairwise array,
    which then pairs the cheap ones with everything; each expensive choice is added to a few of
    its cells, chosen so that together they hold every choice of every other group once: that
    covers each pair with the expensive choice in about as many cells as the largest group has
    choices, instead of half of all cells."""
    cheap = {
        g: [v for v in values if v not in expensive.get(g, ())] for g, values in choices.items()
    }
    if any(not values for values in cheap.values()):
        raise ValueError(f"a group without a cheap choice: {cheap}")
    rows = _missing_pairs([], cheap, allowed)
    cells = list(rows)
    for group, values in expensive.items():
        for value in values:
            if value not in choices.get(group, ()):
                continue
            for row in _cover_each_choice(rows, {g: v for g, v in choices.items() if g != group}):
                cell = {**row, group: value}
                if allowed(cell):
                    cells.append(cell)
    return cells


def _missing_pairs(
    rows: list[Cell], choices: Choices, allowed: Callable[[Mapping[str, str]], bool]
) -> list[Cell]:
    """Rows for the allowed pairs that `rows` miss, each started from the first such pair and
    filled with the choices that cover more of them (`_complete`)."""
    names = list(choices)
    wanted = {
        tuple(sorted(((g1, a), (g2, b))))  # ordered as `pairs_of` orders them
        for i, g1 in enumerate(names)
        for g2 in names[i + 1 :]
        for a in choices[g1]
        for b in choices[g2]
        if allowed({g1: a, g2: b})
    }
    for row in rows:
        wanted -= pairs_of(row)
    added: list[Cell] = []
    while wanted:
        (g1, a), (g2, b) = min(wanted)
        row = _complete({g1: a, g2: b}, choices, allowed, wanted)
        if row is None:
            raise ValueError(
                f"{g1}={a} with {g2}={b}: no cell that holds both is allowed (every third choice "
                "is refused); add a Refusal for the pair, naming why"
            )
        added.append(row)
        wanted -= pairs_of(row)
    return added


def _complete(
    row: Cell, choices: Choices, allowed: Callable[[Mapping[str, str]], bool], wanted: set
) -> Cell | None:
    """`row` filled with one choice per group such that `allowed` holds, preferring choices
    that cover more `wanted` pairs (depth-first, backtracking); None when none exists."""
    free = [g for g in choices if g not in row]
    if not free:
        return {g: row[g] for g in choices}
    group = free[0]

    def gain(value: str) -> int:
        return sum(tuple(sorted(((group, value), item))) in wanted for item in row.items())

    for value in sorted(choices[group], key=gain, reverse=True):
        if allowed({**row, group: value}):
            found = _complete({**row, group: value}, choices, allowed, wanted)
            if found is not None:
                return found
    return None


def _cover_each_choice(rows: list[Cell], choices: Choices) -> list[Cell]:
    """Greedily, few rows that together hold every (group, choice) of `choices` that `rows`
    hold."""
    wanted = {(g, v) for g, values in choices.items() for v in values}
    wanted &= {(g, row[g]) for row in rows for g in choices}
    chosen: list[Cell] = []
    while wanted:
        best = max(rows, key=lambda row: len({(g, row[g]) for g in choices} & wanted))
        chosen.append(best)
        wanted -= {(g, best[g]) for g in choices}
    return chosen


def refusal_cells(base: Cell, refusals: Iterable[Refusal]) -> list[Cell]:
    """One cell for each combination of choices that a refusal names (the pairs the covering
    array leaves out), the other groups as in `base`."""
    cells = []
    for refusal in refusals:
        groups = list(refusal.when)
        for values in product(*(refusal.when[g] for g in groups)):
            cells.append({**base, **refusal.shown_with, **dict(zip(groups, values, strict=True))})
    return cells


def matrix(conf: Path) -> list[Cell]:
    """The whole matrix: the covering array of everything allowed, then a refused cell for
    each combination a refusal names."""
    choices = choices_from_conf(conf)
    cells = covering_array(choices, allowed=lambda cell: not refused(cell))
    return cells + refusal_cells(cells[0], REFUSALS)


def pairs_of(cell: Mapping[str, str]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    items = sorted(cell.items())
    return set(combinations(items, 2))


def cell_id(cell: Mapping[str, str]) -> str:
    """A short, stable name: the main choices (temperature calibration and a CV fold when on),
    then the callbacks switched on."""
    main = [cell[g] for g in ("task", "data", "intensity", "adapt", "logger", "model", "trainer")]
    if cell.get("calibration", "none") != "none":
        main.append(cell["calibration"])
    if cell.get("cv") == ON:
        main.append("cv")
    on = [g.removeprefix(CALLBACK_PREFIX) for g, v in cell.items() if g.startswith(CALLBACK_PREFIX)
          and v == ON]  # fmt: skip
    return "-".join(main) + "+" + (",".join(on) or "no_callbacks")


def describe(cell: Mapping[str, str]) -> str:
    return " ".join(f"{g}={v}" for g, v in cell.items() if not g.startswith(CALLBACK_PREFIX)) + (
        " callbacks="
        + ",".join(
            g.removeprefix(CALLBACK_PREFIX)
            for g, v in cell.items()
            if g.startswith(CALLBACK_PREFIX) and v == ON
        )  # fmt: skip
    )
