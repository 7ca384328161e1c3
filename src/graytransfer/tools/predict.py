"""`python -m graytransfer.tools.predict ckpt_path=PATH input=PATH`: classify images into a CSV.

`input` is an image, a folder of images (recursive, sorted; hidden files and folders such as
`.ipynb_checkpoints/` are ignored at every depth) or a CSV listing them. The model, its class
names and its preprocessing (image size, 16-bit scaling, DICOM window) come from the checkpoint
alone (graytransfer.model.restore); nothing is downloaded. The CSV has one row per image:
`path,label,prob_<class>...`; for a multilabel or binary checkpoint
`path,label,prob_<output>...,pred_<output>...`, the 0/1 decisions made with the thresholds chosen
on the validation split and stored in the checkpoint (`label`: the positive labels, `|`-joined).

Bad files (unreadable, missing from the CSV list, dangling symlinks) follow `on_bad_file`:
`skip` (the default) predicts every readable image, prints one warning line per bad file and has
no row for it; the command fails (exit 2) only when no image at all can be read. `error` reads
every image first and then stops, naming every bad file, before any CSV is written.

`output=PATH` chooses the CSV's path. The CSV is written whole or not at all (a temporary file,
then a rename). An existing file there is replaced only when it is an earlier predictions CSV
(its first line starts `path,label,prob_`); a folder or any other file is refused in one line
before any work (graytransfer.tools.owned).

`ckpt_path` may also be a list of checkpoints or a CV sweep folder, and `eval.tta=[hflip]` adds
flipped views: the probabilities are then the members' and views' mean, the decisions at the
ensemble's thresholds (`graytransfer.evaluation.ensemble`).
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError
from graytransfer.tools.owned import check_own_file

if TYPE_CHECKING:  # torch loads in `run`, after the command line (a fast --help)
    import torch

    from graytransfer.data.decode.scan import BadFile
    from graytransfer.model.restore import TrainedModel

#: the first cells of every CSV this tool (and evaluate) writes: what marks one as replaceable
HEADER = "path,label,prob_"


def list_inputs(source: str | Path) -> tuple[list[Path], list[BadFile]]:
    """The images named by `source` (one image, a folder searched recursively, or a CSV of
    paths) and the bad entries found while listing them: dangling symlinks, listed files that
    do not exist."""
    from graytransfer.data.decode.gray import IMAGE_SUFFIXES, list_folder
    from graytransfer.data.decode.scan import BadFile

    path = Path(str(source)).expanduser()
    bad: list[BadFile] = []
    if path.is_dir():
        found = list_folder(path)
        files = found.images
        bad = [
            BadFile(p, "is a dangling symlink (its target does not exist)") for p in found.dangling
        ]
    elif path.is_file() and path.suffix.lower() == ".csv":
        listed = _csv_paths(path)
        files = [p for p in listed if p.is_file()]
        bad = [
            BadFile(p, f"is listed in '{path}' but does not exist")
            for p in listed
            if not p.is_file()
        ]
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"input: '{path}' does not exist; give an image, a folder or a CSV file")
    if not files and not bad:
        raise UserError(
            f"input: '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)}); give an image, a "
            "folder of images or a CSV with a path column"
        )
    return files, bad


def _csv_paths(table: Path) -> list[Path]:
    with table.open(newline="") as handle:
        rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    if not rows:
        return []
    header = [cell.strip().lower() for cell in rows[0]]
    column = header.index("path") if "path" in header else 0
    if "path" in header or not Path(rows[0][0]).suffix:
        rows = rows[1:]
    paths = [Path(row[column].strip()).expanduser() for row in rows if len(row) > column]
    return [p if p.is_absolute() else table.parent / p for p in paths]


def read_batch(
    paths: Sequence[Path], trained: TrainedModel
) -> tuple[torch.Tensor | None, list[Path], list[BadFile]]:
    """(N, 1, H, W) at the checkpoint's size and 16-bit/DICOM settings, in the dtype the model
    takes (uint8, or uint16 / int16 at full depth; None when no file could be read), the paths
    read, and the files that could not be read."""
    import torch

    from graytransfer.adapt.mapped import input_spec
    from graytransfer.data.decode.gray import read_gray
    from graytransfer.data.decode.scan import BadFile

    data = trained.config.get("data") or {}
    dtype = input_spec(trained.model.input_adapter)[0]
    stored = None if dtype == torch.uint8 else str(dtype).removeprefix("torch.")
    images, read, bad = [], [], []
    for path in paths:
        try:
            image = read_gray(
                path,
                trained.image_size,
                scale16=data.get("scale16", "full"),
                dicom_window=data.get("dicom_window"),
                dtype=stored,
            )
        except UserError:
            raise
        except Exception as err:  # any decoder failure makes the file bad; the reason says why
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            bad.append(BadFile(path, f"cannot be read ({type(err).__name__}: {reason})"))
            continue
        images.append(image)
        read.append(path)
    return (torch.stack(images) if images else None), read, bad


def batches(items: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict(
    trained: TrainedModel, paths: Sequence[Path], batch_size: int = 64
) -> tuple[torch.Tensor, list[Path], list[BadFile]]:
    """Probabilities (N, outputs) for the readable images at `paths` (softmax over classes, or a
    sigmoid per label / the positive class), those N paths in order, and the files that could not
    be read."""
    import torch

    from graytransfer.evaluation.ensemble import AveragedClassifier

    if batch_size < 1:
        raise UserError(f"batch_size: {batch_size} must be at least 1")
    out, read, bad = [], [], []
    with torch.no_grad():
        for chunk in batches(paths, batch_size):
            images, ok, failed = read_batch(chunk, trained)
            bad += failed
            if images is not None:
                model = trained.model
                if isinstance(model, AveragedClassifier):  # the mean itself, no logit round trip
                    out.append(model.probabilities(images))
                else:
                    out.append(model.task.probabilities(model(images)))
                read += ok
    empty = torch.zeros(0, len(trained.output_names))
    return (torch.cat(out) if out else empty), read, bad


def report_bad(bad: Sequence[BadFile], read: int, on_bad_file: str, source: str) -> None:
    """Stop naming every bad file (`error`, or when nothing was read), else one warning each."""
    if not bad:
        return
    listing = "; ".join(str(b) for b in bad)
    if read == 0:
        raise UserError(
            f"input: none of the {len(bad)} image(s) in '{source}' could be read: {listing}"
        )
    if on_bad_file == "error":
        raise UserError(
            f"input: {len(bad)} bad file(s) in '{source}': {listing} — fix or remove them, or "
            "set on_bad_file=skip to predict the others"
        )
    for item in bad:
        warnings.warn(f"predict: skipped {item}", UserWarning, stacklevel=2)


def write_decisions(
    path: Path,
    paths: Sequence[Path | str],
    probabilities: torch.Tensor,
    trained: TrainedModel,
    truth: torch.Tensor | None = None,
) -> None:
    """Multilabel/binary: `path,label,prob_<output>...,pred_<output>...`, the decisions made
    with the checkpoint's thresholds; `label` lists the positive outputs (`|`-separated;
    binary: the class decided). `truth` (evaluate) adds `true_<output>...` (-1: unknown)."""
    import torch

    thresholds = torch.tensor(trained.thresholds)
    decided = trained.model.task.decide(probabilities, thresholds).tolist()
    names = trained.output_names
    with io.StringIO(newline="") as handle:
        writer = csv.writer(handle)
        header = ["path", "label", *(f"prob_{n}" for n in names), *(f"pred_{n}" for n in names)]
        known = [] if truth is None else truth.reshape(len(paths), -1).tolist()
        writer.writerow(header + [f"true_{n}" for n in names if truth is not None])
        for i, (image, row, flags) in enumerate(
            zip(paths, probabilities.tolist(), decided, strict=True)
        ):
            if trained.task == "binary":
                label = trained.class_names[flags[0]]
            else:
                label = "|".join(n for n, f in zip(names, flags, strict=True) if f)
            probs = [f"{p:.6f}" for p in row]
            writer.writerow([str(image), label, *probs, *flags, *(known[i] if known else [])])
        write_text_atomic(path, handle.getvalue())


def write_predictions(
    path: Path, paths: Sequence[Path], probabilities: torch.Tensor, class_names: list[str]
) -> None:
    """`path,label,prob_<class>...`, one row per image, probabilities to 6 decimals."""
    labels = probabilities.argmax(dim=-1).tolist()
    with io.StringIO(newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", *(f"prob_{name}" for name in class_names)])
        for image, label, row in zip(paths, labels, probabilities.tolist(), strict=True):
            writer.writerow([str(image), class_names[label], *(f"{p:.6f}" for p in row)])
        write_text_atomic(path, handle.getvalue())


def run(cfg: DictConfig) -> Path:
    """Classify `cfg.input` with `cfg.ckpt_path`; return the CSV's path. A value left at ???
    (`ckpt_path`, `input`) stops it in one line before torch is imported."""
    check_missing(cfg)
    from graytransfer.data.decode.scan import ON_BAD_FILE
    from graytransfer.evaluation.tta import tta_of
    from graytransfer.run.checkpoints import load_model

    on_bad_file = str(cfg.get("on_bad_file", "skip"))
    if on_bad_file not in ON_BAD_FILE:
        raise UserError(f"on_bad_file: '{on_bad_file}' is not one of {list(ON_BAD_FILE)}")
    output = (
        Path(str(cfg.output)).expanduser()
        if cfg.get("output")
        else Path(cfg.paths.output_dir) / "predictions.csv"
    )
    check_own_file(output, HEADER, "output", "a predictions CSV", "predictions.csv")
    trained = load_model(cfg.ckpt_path, tta_of(cfg))
    paths, bad = list_inputs(cfg.input)
    probabilities, read, unreadable = predict(trained, paths, int(cfg.get("batch_size", 64)))
    bad = sorted([*bad, *unreadable], key=lambda b: b.path)
    report_bad(bad, len(read), on_bad_file, str(cfg.input))
    if trained.thresholds is None:
        write_predictions(output, read, probabilities, trained.class_names)
    else:
        write_decisions(output, read, probabilities, trained)
    skipped = f", skipped {len(bad)} bad file(s)" if bad else ""
    print(f"predicted {len(read)} image(s) with {trained.source}{skipped}; wrote {output}")
    return output


main = hydra_entry("predict", run)


if __name__ == "__main__":
    main()
