"""`python -m graytransfer.tools.explain ckpt_path=PATH input=PATH`: where the model looks.

Class activation maps from pytorch-grad-cam (`method=gradcam|gradcampp|eigencam|scorecam`) of
the checkpoint's model, rebuilt from the checkpoint alone (graytransfer.model.restore), over the
images named by `input` (one image, a folder, a CSV list: as for `predict`, whose listing,
reading and bad-file handling this reuses). The map is computed through the model's own input
module from the uint8 image, so it explains every adaptation strategy; the layer is the
backbone's last stage from timm's `feature_info` unless `layer=` names one.

`target=pred` maps each image's predicted class; `target=CLASS` maps that class of the
checkpoint. Images of another size are resized to the checkpoint's (said once). Writes, in the
run folder (or `output`): one overlay PNG per image (the gray image under the map in a
perceptual colormap, the prediction and its probability in the title), `grid_NNN.png` per batch,
`maps.csv` (path, file, target, predicted, probability) and, with `save_npy=true`, each raw map.
An `output` folder must be new, empty or an earlier explain output (its maps.csv); one holding
other files is refused in one line before any work, so a user's file is never overwritten.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from omegaconf import DictConfig
from PIL import Image

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError
from graytransfer.tools.owned import check_own_folder

if TYPE_CHECKING:  # torch loads in `run`, after the command line (a fast --help)
    from graytransfer.model.restore import TrainedModel

#: maps.csv's header: a folder holding a maps.csv that starts so is an earlier explain output
MAPS_HEADER = "path,file,target,predicted,probability"


def target_index(target: str, class_names: list[str]) -> int | None:
    """None for `pred` (each image's predicted class), else the index of class `target`."""
    if str(target) == "pred":
        return None
    if str(target) not in class_names:
        raise UserError(
            f"target: '{target}' is not a class of the checkpoint; use pred or one of {class_names}"
        )
    return class_names.index(str(target))


def other_sizes(paths: list[Path], size: tuple[int, int]) -> list[Path]:
    """The files whose stored (H, W) is not `size` (files PIL cannot size are not counted)."""
    found = []
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception:  # DICOM and unreadable files: read_batch decides about them
            continue
        if (height, width) != tuple(size):
            found.append(path)
    return found


def explain(
    trained: TrainedModel,
    paths: list[Path],
    out: Path,
    method: str = "gradcam",
    target: int | None = None,
    layer: str | None = None,
    save_npy: bool = False,
    batch_size: int = 16,
) -> tuple[list[list[str]], list]:
    """Write the overlays, grids (and maps) of the images at `paths` into `out`; return the
    rows of `maps.csv` and the files that could not be read."""
    from graytransfer.callbacks.activation_maps import activation_maps, predicted_classes
    from graytransfer.callbacks.map_drawing import save_grid, save_overlay
    from graytransfer.tools.predict import batches, read_batch

    names = trained.class_names
    rows: list[list[str]] = []
    bad: list = []
    for number, chunk in enumerate(batches(paths, batch_size)):
        images, read, failed = read_batch(chunk, trained)
        bad += failed
        if images is None:
            continue
        chosen = None if target is None else [target] * len(read)
        maps, probabilities = activation_maps(trained.model, images, method, chosen, layer)
        predicted = predicted_classes(trained.model, probabilities).tolist()
        titles = []
        for i, path in enumerate(read):
            mapped = predicted[i] if target is None else target
            title = f"{names[predicted[i]]} {probabilities[i, predicted[i]]:.2f}"
            if target is not None:
                title += f" (map: {names[target]})"
            titles.append(title)
            stem = f"{len(rows):04d}_{path.stem}"
            save_overlay(out / f"{stem}.png", images[i], maps[i], title)
            if save_npy:
                np.save(out / f"{stem}.npy", maps[i])
            rows.append(
                [
                    str(path),
                    f"{stem}.png",
                    names[mapped],
                    names[predicted[i]],
                    f"{float(probabilities[i, predicted[i]]):.6f}",
                ]
            )
        save_grid(out / f"grid_{number:03d}.png", images, maps, titles)
    return rows, bad


def run(cfg: DictConfig) -> Path:
    """Explain `cfg.input` with `cfg.ckpt_path`; return the folder written. A value left at ???
    (`ckpt_path`, `input`) stops it in one line before torch is imported."""
    check_missing(cfg)
    from graytransfer.callbacks.activation_maps import METHODS, check_task, stage_info, target_layer
    from graytransfer.data.decode.scan import ON_BAD_FILE
    from graytransfer.model.restore import load_trained
    from graytransfer.tools.predict import list_inputs, read_batch, report_bad

    on_bad_file = str(cfg.get("on_bad_file", "skip"))
    if on_bad_file not in ON_BAD_FILE:
        raise UserError(f"on_bad_file: '{on_bad_file}' is not one of {list(ON_BAD_FILE)}")
    method = str(cfg.get("method", "gradcam"))
    if method not in METHODS:
        raise UserError(f"method: '{method}' is not one of {list(METHODS)}")
    batch_size = int(cfg.get("batch_size", 16))
    if batch_size < 1:
        raise UserError(f"batch_size: {batch_size} must be at least 1")
    out = Path(str(cfg.output)).expanduser() if cfg.get("output") else Path(cfg.paths.output_dir)
    if cfg.get("output"):
        check_own_folder(out, "maps.csv", MAPS_HEADER, "output", "an earlier explain output")
    trained = load_trained(cfg.ckpt_path)
    check_task(trained.model, f"ckpt_path '{cfg.ckpt_path}'")
    target = target_index(str(cfg.get("target", "pred")), trained.class_names)
    layer = cfg.get("layer") or None
    layer_name, _ = target_layer(trained.model, layer)  # a missing layer fails before any work
    _, reduction = stage_info(trained.model.backbone, layer_name)
    if reduction and all(size <= reduction for size in trained.image_size):
        h, w = trained.image_size
        warnings.warn(
            f"explain: layer '{layer_name}' has stride {reduction}, so at {h}x{w} its map is one "
            "cell and every map is flat; name an earlier stage with layer= (timm feature_info)",
            UserWarning,
            stacklevel=2,
        )
    paths, bad = list_inputs(cfg.input)
    resized = other_sizes(paths, trained.image_size)
    if resized:
        h, w = trained.image_size
        warnings.warn(
            f"explain: {len(resized)} image(s) are not {h}x{w} (e.g. '{resized[0]}'); resized to "
            "the checkpoint's size",
            UserWarning,
            stacklevel=2,
        )
    if on_bad_file == "error":  # every file read first: nothing is written when one is bad
        _, read, unreadable = read_batch(paths, trained)
        report_bad(sorted([*bad, *unreadable], key=lambda b: b.path), len(read), "error", cfg.input)
    out.mkdir(parents=True, exist_ok=True)
    rows, unreadable = explain(
        trained, paths, out, method, target, layer, bool(cfg.get("save_npy")), batch_size
    )
    bad = sorted([*bad, *unreadable], key=lambda b: b.path)
    if not rows:
        report_bad(bad, 0, on_bad_file, str(cfg.input))  # raises: nothing could be read
    for item in bad:
        warnings.warn(f"explain: skipped {item}", UserWarning, stacklevel=2)
    with io.StringIO(newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(MAPS_HEADER.split(","))
        writer.writerows(rows)
        write_text_atomic(out / "maps.csv", handle.getvalue())
    skipped = f", skipped {len(bad)} bad file(s)" if bad else ""
    print(
        f"explained {len(rows)} image(s) with {method} at layer '{layer_name}' of "
        f"{trained.source}{skipped}; wrote {out}"
    )
    return out


main = hydra_entry("explain", run)


if __name__ == "__main__":
    main()
