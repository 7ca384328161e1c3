"""Running one cell of the combination matrix (tests/run/test_combinations.py): the data of every
data path written once per session (`write_data`), a cell's train overrides, and the cell taken
through train -> evaluate -> predict -> export in this process (`in_process`) or, for a DDP
trainer, through `python train.py` run as a fork of this process (`in_processes`), on the one
torch thread every test process runs on (tests/conftest.py). The cells themselves come from
helpers/combinations.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import open_dict

from helpers.combinations import CALLBACK_PREFIX, DATA_PATHS, IMAGE_SIZE, MODELS, ON


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
        f"eval={cell['eval']}",
        f"calibration={cell['calibration']}",
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
    if cell.get("cv") == ON:  # one fold of a 2-fold cross-validation: val is fold 1
        overrides += ["cv.folds=2", "cv.fold=1"]
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
    from helpers.datafiles import CT, write_16bit, write_dicom, write_png8

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
                **CT,
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
    from graytransfer.run import train

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
    process. A refusal is exit status 2 with one `graytransfer: error: ...` line.

    `python train.py` runs as a fork of this process (helpers/forked_train.py): rank 0 starts
    with torch and Lightning imported, and only rank 1 is a new Python process, started by
    Lightning from the command line as for any `python train.py trainer=ddp_cpu`. That saves a
    Python start per cell: the 11 ddp_cpu cells took 301 s through `subprocess.run` and 124 s
    forked, back to back at load 2.5-4 (2026-12-07)."""
    import os

    from helpers.forked_train import forked_train

    overrides = [
        *train_overrides(cell, root),
        f"hydra.run.dir={work / 'train'}",
        f"paths.data_dir={work / 'data'}",
    ]
    done = forked_train(*overrides, root=work, timeout_s=600)
    lines = [line for line in done.output.splitlines() if line.strip()]
    if done.code == 0:
        return after_training(cell, root, work)
    last = lines[-1] if lines else ""
    tail = done.output[-16000:]  # rank 1's traceback comes before rank 0's
    if done.code == 2 and "Traceback" not in done.output and last.startswith("graytransfer"):
        message = last.split("error:", 1)[-1].strip()
        if list(work.rglob("*.ckpt")):
            return Outcome(
                "failed", "train", message, f"refused after training had begun:{os.linesep}{tail}"
            )
        return Outcome("refused", "train", message)
    return Outcome("failed", "train", detail=f"exit {done.code}{os.linesep}{tail}")
