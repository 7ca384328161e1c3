"""The all-pairs combination matrix (tests/run/test_combinations.py, docs/combinations.md).

A *cell* is one choice per group: `{"task": "binary", "data": "dicom", "intensity": "ct", ...}`.
The choices are read from `conf/` (every YAML file of conf/task, conf/intensity, conf/adapt,
conf/logger; every single-callback file of conf/callbacks as an on/off switch; every file of
conf/trainer that runs on a CPU), so a new file there joins the matrix by existing. Two groups
cannot be read from `conf/`: the data paths (each needs files written on disk: `DATA_PATHS`) and
the models (two small ones: `MODELS`); `NOT_IN_MATRIX` names every conf/data file that is not a
data path here, with the reason, and a fast test fails on a conf/data file in neither.

The covering array is built here, greedily (see `covering_array` for why not allpairspy);
`REFUSALS` is the table of combinations the project refuses in one line, with the message
expected; docs/combinations.md lists the same table (a fast test checks that each row's message
is there). """

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations, product
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf, open_dict

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
    """A short, stable name: the main choices, then the callbacks switched on."""
    main = [cell[g] for g in ("task", "data", "intensity", "adapt", "logger", "model", "trainer")]
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


def train_overrides(cell: Mapping[str, str], root: Path) -> list[str]:
    """conf/train.yaml overrides of `cell`: one short epoch of one batch per stage."""
    path = DATA_PATHS[cell["data"]]
    callbacks = [
        g.removeprefix(CALLBACK_PREFIX)
        for g, v in cell.items()
        if g.startswith(CALLBACK_PREFIX) and v == ON
    ]
    overrides = [
        f"task={cell['task']}",
        *(o.format(root=root) for o in path.overrides),
        f"data.image_size={IMAGE_SIZE}",
        "data.batch_size=8",
        f"intensity={cell['intensity']}",
        f"adapt={cell['adapt']}",
        f"logger={cell['logger']}",
        f"trainer={cell['trainer']}",
        *MODELS[cell["model"]],
        f"callbacks=[{','.join(callbacks)}]" if callbacks else "callbacks=none",
        "trainer.max_epochs=1",
        "trainer.limit_train_batches=1",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "trainer.num_sanity_val_steps=0",
        f"trainer.enable_progress_bar={str('rich_progress_bar' in callbacks).lower()}",
        "seed=0",
    ]
    if cell["data"] != "digits":
        overrides.append("data.num_workers=0")
    if cell["intensity"] == "window":
        center, width = path.window
        overrides += [f"intensity.center={center}", f"intensity.width={width}"]
    return overrides


# ---- the data on disk, written once per session ------------------------------------------------


def write_data(root: Path) -> Path:
    """Every data path's files under `root`: 8- and 16-bit PNG class folders, a DICOM folder,
    single- and multi-label CSVs with their own images, and shards of both PNG folders (written
    by `graytransfer.tools.shards.run`, as `python -m graytransfer.tools.shards` writes them)."""
    from helpers.datafiles import write_16bit, write_png8
    from helpers.shard_helpers import write_dicom

    rng = np.random.default_rng(0)
    size = (24, 24)
    for k in range(2):
        for i in range(16):
            write_png8(
                root / "png8" / f"c{k}" / f"{i:02d}.png", rng.integers(60 * k, 150 + 60 * k, size)
            )
            write_16bit(
                root / "png16" / f"c{k}" / f"{i:02d}.png",
                rng.integers(100 * k, 1500 + 100 * k, size),  # 12-bit-like raw values
            )
            (root / "dicom" / f"c{k}").mkdir(parents=True, exist_ok=True)
            write_dicom(
                root / "dicom" / f"c{k}" / f"{i:02d}.dcm",
                rng.integers(800 + 200 * k, 1400 + 200 * k, size),
            )
    single, multi = ["path,label"], ["path,A,B"]
    for i in range(40):
        name = f"images/{i:02d}.png"
        write_png8(root / "csv" / name, rng.integers(0, 256, size))
        single.append(f"{name},{'ab'[i % 2]}")
        multi.append(f"{name},{i % 2},{(i // 2) % 2}")
    (root / "csv" / "single.csv").write_text("\n".join(single) + "\n")
    (root / "csv" / "multi.csv").write_text("\n".join(multi) + "\n")
    write_shards(root / "png8", root / "shards8", [], root / "shards_run8")
    write_shards(root / "png16", root / "shards16", ["data.bit_depth=16"], root / "shards_run16")
    return root


def write_shards(source: Path, out: Path, extra: list[str], run_dir: Path) -> None:
    from graytransfer.config import compose
    from graytransfer.tools import shards

    cfg = compose(
        ["data=folder", f"data.root={source}", "data.num_workers=0", *extra,
         f"image_size={IMAGE_SIZE}", f"out={out}", "workers=1"],
        config_name="shards",
        output_dir=run_dir,
    )  # fmt: skip
    shards.run(cfg)


# ---- one cell, end to end ----------------------------------------------------------------------


@dataclass
class Outcome:
    """How a cell ended: `ok` (train -> evaluate -> predict -> export), `refused` (a one-line
    error at `stage`, before any work) or `failed` (anything else: `detail` says what)."""

    status: str
    stage: str = ""
    message: str = ""
    detail: str = ""


def in_process(cell: Mapping[str, str], root: Path, work: Path) -> Outcome:
    """Run `cell` in this process through the project's own entry functions: train (the
    pipeline), then `tools.evaluate`, `tools.predict` and `tools.export` on its checkpoint."""
    import traceback

    from graytransfer.cli import one_line
    from graytransfer.config import compose
    from graytransfer.run.pipeline import train

    stage = "train"
    try:
        cfg = compose(train_overrides(cell, root), output_dir=work / "train")
        with open_dict(cfg):
            cfg.paths.data_dir = str(work / "data")
        train(cfg)
        return after_training(cell, root, work)
    except Exception as err:  # the cell's verdict, not the test's: judged by the caller
        message = one_line(err)
        if message is None:
            return Outcome("failed", stage, detail=traceback.format_exc())
        if list(work.rglob("*.ckpt")):
            return Outcome("failed", stage, message, "refused after training had begun: "
                           f"{message}")  # fmt: skip
        return Outcome("refused", stage, message)


def quoted(path: Path | str) -> str:
    """A path as a Hydra override value (Lightning's checkpoint names hold `=`)."""
    return "'" + str(path).replace("\\", "\\\\").replace("'", "\\'") + "'"


def checkpoint_of(run_dir: Path) -> Path:
    """The best checkpoint a run names in metrics.json, else its newest .ckpt."""
    import json

    record = json.loads((run_dir / "metrics.json").read_text())
    if record.get("best_checkpoint"):
        return Path(record["best_checkpoint"])
    found = sorted(run_dir.rglob("*.ckpt"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise AssertionError(f"no checkpoint in {run_dir}")
    return found[-1]


def after_training(cell: Mapping[str, str], root: Path, work: Path) -> Outcome:
    """evaluate -> predict -> export of the trained cell's checkpoint, in this process."""
    import traceback

    from graytransfer.cli import one_line
    from graytransfer.config import compose
    from graytransfer.tools import evaluate, export, predict

    ckpt = checkpoint_of(work / "train")
    inputs = DATA_PATHS[cell["data"]].predict_input.format(root=root)
    stages = [
        ("evaluate", evaluate.evaluate, [f"logger={cell['logger']}", "trainer=cpu",
                                         "trainer.limit_test_batches=1",
                                         "trainer.enable_progress_bar=false"]),
        ("predict", predict.run, [f"input={quoted(inputs)}",
                                  f"output={quoted(work / 'predictions.csv')}"]),
        ("export", export.run, ["format=torchscript", f"output={quoted(work / 'model.pt')}"]),
    ]  # fmt: skip
    for stage, run, overrides in stages:
        try:
            cfg = compose(
                [f"ckpt_path={quoted(ckpt)}", *overrides],
                config_name=stage,
                output_dir=work / stage,
            )
            run(cfg)
        except Exception as err:
            message = one_line(err)
            detail = traceback.format_exc()
            return Outcome("failed", stage, message or "", detail)
    return Outcome("ok")


def needs_processes(cell: Mapping[str, str]) -> bool:
    """A DDP trainer: Lightning re-launches the command line, so the cell runs `train.py`."""
    from helpers.configs import CONF

    text = (CONF / "trainer" / f"{cell['trainer']}.yaml").read_text()
    return bool(re.search(r"^strategy:\s*ddp", text, re.M))


def in_processes(cell: Mapping[str, str], root: Path, work: Path) -> Outcome:
    """Run `cell`'s training as `python train.py ...` (a DDP trainer starts its own processes:
    Lightning re-launches the command line), then evaluate -> predict -> export in this
    process. A refusal is exit status 2 with one `graytransfer: error: ...` line."""
    import os
    import subprocess
    import sys

    from helpers.configs import REPO, child_env

    overrides = [
        *train_overrides(cell, root),
        f"hydra.run.dir={work / 'train'}",
        f"paths.data_dir={work / 'data'}",
    ]
    env = {**child_env(work), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "train.py", *overrides],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if done.returncode == 0:
        return after_training(cell, root, work)
    last = lines[-1] if lines else ""
    tail = (done.stdout + done.stderr)[-4000:]
    if done.returncode == 2 and "Traceback" not in done.stderr and last.startswith("graytransfer"):
        message = last.split("error:", 1)[-1].strip()
        if list(work.rglob("*.ckpt")):
            return Outcome(
                "failed", "train", message, f"refused after training had begun:{os.linesep}{tail}"
            )
        return Outcome("refused", "train", message)
    return Outcome("failed", "train", detail=f"exit {done.returncode}{os.linesep}{tail}")
