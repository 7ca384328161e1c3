"""`python -m graytransfer.tools.predict ckpt_path=PATH input=PATH`: classify images into a CSV.

`input` is an image, a folder of images (recursive, sorted) or a CSV listing them. The model, its
class names and its preprocessing (image size, 16-bit scaling, DICOM window) come from the
checkpoint alone (graytransfer.model.restore); nothing is downloaded. The CSV has one row per image:
`path,label,prob_<class>...`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from omegaconf import DictConfig

from graytransfer.cli import hydra_entry
from graytransfer.data.images import IMAGE_SUFFIXES, is_image_file, read_gray
from graytransfer.errors import UserError
from graytransfer.model.restore import TrainedModel, load_trained


def list_inputs(source: str | Path) -> list[Path]:
    """The images named by `source`: one image, a folder (recursive) or a CSV of paths."""
    path = Path(str(source)).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if is_image_file(p))
    elif path.is_file() and path.suffix.lower() == ".csv":
        files = _csv_paths(path)
    elif path.is_file():
        files = [path]
    else:
        raise UserError(f"input: '{path}' does not exist; give an image, a folder or a CSV file")
    if not files:
        raise UserError(
            f"input: '{path}' holds no images ({', '.join(IMAGE_SUFFIXES)}); give an image, a "
            "folder of images or a CSV with a path column"
        )
    return files


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
    paths = [p if p.is_absolute() else table.parent / p for p in paths]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise UserError(
            f"input: {len(missing)} file(s) listed in '{table}' do not exist, e.g. '{missing[0]}'"
        )
    return paths


def read_batch(paths: Sequence[Path], trained: TrainedModel) -> torch.Tensor:
    """uint8 (N, 1, H, W) at the checkpoint's size and 16-bit/DICOM settings."""
    data = trained.config.get("data") or {}
    images = []
    for path in paths:
        try:
            images.append(
                read_gray(
                    path,
                    trained.image_size,
                    scale16=data.get("scale16", "full"),
                    dicom_window=data.get("dicom_window"),
                )
            )
        except (OSError, ValueError, SyntaxError) as err:
            raise UserError(
                f"image '{path}' cannot be read ({type(err).__name__}: {err}); remove or replace it"
            ) from err
    return torch.stack(images)


def batches(items: Sequence[Path], size: int) -> Iterator[Sequence[Path]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def predict(trained: TrainedModel, paths: Sequence[Path], batch_size: int = 64) -> torch.Tensor:
    """Class probabilities (N, num_classes) for the images at `paths`."""
    if batch_size < 1:
        raise UserError(f"batch_size: {batch_size} must be at least 1")
    out = []
    with torch.no_grad():
        for chunk in batches(paths, batch_size):
            out.append(trained.model(read_batch(chunk, trained)).softmax(dim=-1))
    return torch.cat(out)


def write_predictions(
    path: Path, paths: Sequence[Path], probabilities: torch.Tensor, class_names: list[str]
) -> None:
    """`path,label,prob_<class>...`, one row per image, probabilities to 6 decimals."""
    path.parent.mkdir(parents=True, exist_ok=True)
    labels = probabilities.argmax(dim=-1).tolist()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", *(f"prob_{name}" for name in class_names)])
        for image, label, row in zip(paths, labels, probabilities.tolist(), strict=True):
            writer.writerow([str(image), class_names[label], *(f"{p:.6f}" for p in row)])


def run(cfg: DictConfig) -> Path:
    """Classify `cfg.input` with `cfg.ckpt_path`; return the CSV's path."""
    trained = load_trained(cfg.ckpt_path)
    paths = list_inputs(cfg.input)
    probabilities = predict(trained, paths, int(cfg.get("batch_size", 64)))
    output = (
        Path(cfg.output) if cfg.get("output") else Path(cfg.paths.output_dir) / "predictions.csv"
    )
    write_predictions(output, paths, probabilities, trained.class_names)
    print(f"predicted {len(paths)} image(s) with {trained.source}; wrote {output}")
    return output


main = hydra_entry("predict", run)


if __name__ == "__main__":
    main()
