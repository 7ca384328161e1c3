"""k-fold cross-validation runs: a CV sweep's fold folders, their `folds.csv` and out-of-fold
predictions.

`python train.py -m cv.folds=5` is one Hydra sweep whose jobs are the folds `cv.fold=0..4`
(`graytransfer.cli.fold_sweep` adds the sweep). Each job is a normal run folder whose val split
is its fold (`graytransfer.data.fold_sets.hold_out_fold`). Each fold writes:

- `folds.csv` (`id`, `group` when the data has a group column, `fold`): the whole assignment,
  the same in every fold's folder and at the sweep root (`write_folds`);
- `oof_predictions.csv` (`OOF_FILE`): its held-out fold's predictions by its best checkpoint,
  with the columns of `predictions.csv` (`graytransfer.evaluation.predictions`) and
  `split` = `fold<k>` (`write_oof`). Decisions are at the thresholds stored in the checkpoint,
  which that fold's own validation (the same images) chose.

`fold_folders(root)` lists a sweep root's fold folders by fold; `merge_oof(root)` joins their
out-of-fold files into `<root>/oof_predictions.csv` with a `fold` column: every image that is
not in the test split exactly once.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graytransfer.atomic import write_text_atomic
from graytransfer.errors import UserError
from graytransfer.run.folder import RunFolder

OOF_FILE = RunFolder.OOF_PREDICTIONS
FOLDS_FILE = RunFolder.FOLDS


def write_folds(folder: RunFolder, data: Any) -> None:
    """`folds.csv` of a folded data module into the run `folder` and, in a multirun, at the
    sweep root. The root's copy is written once; one already there is left as it is when its
    content is the same, and any other file of that name is never overwritten (UserError)."""
    text = getattr(data, "folds_csv", None)
    if text is None:
        return
    folder.write_folds(text)
    root = sweep_root()
    if root is not None:
        write_sweep_folds(root, text)


def write_sweep_folds(root: Path, text: str) -> None:
    """`folds.csv` at a sweep root: written (atomically) when absent, left alone when it holds
    `text`, else a UserError; a file there is never overwritten."""
    path = Path(root) / FOLDS_FILE
    if not path.exists():
        write_text_atomic(path, text)
    elif path.read_bytes() != text.encode("utf-8"):
        raise UserError(
            f"'{path}' holds other folds (another seed or data in the same sweep, or a file of "
            "your own): run one cross-validation per sweep folder (hydra.sweep.dir=...), or move "
            "that file"
        )


def sweep_root() -> Path | None:
    """The Hydra sweep folder of this job in a multirun, else None."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra = HydraConfig.get()
    if hydra.mode != RunMode.MULTIRUN:
        return None
    return Path(str(hydra.sweep.dir))


def write_oof(
    trainer: Any, model: Any, data: Any, folder: RunFolder, cfg: DictConfig, best: str | None
) -> None:
    """`oof_predictions.csv` of a fold run: its val split (the held-out fold) scored by the best
    checkpoint `best` (the last weights when there is none), rank 0 only."""
    # lazily: graytransfer.data loads torch, and tools.report (which reads fold folders through
    # this module) answers --help without it
    from graytransfer.data.split.folds import CrossValidation

    cv = CrossValidation.of(cfg)
    if not cv.active or not trainer.is_global_zero:
        return
    from graytransfer.evaluation.predictions import Predictions, groups_of
    from graytransfer.model.checkpoint_file import read_checkpoint

    if best:
        model.load_state_dict(read_checkpoint(best)["state_dict"])
    probs, labels = _score(model, data.val_set, data.batch_size)
    ids = [str(i) for i in data.val_set.ids]
    thresholds = getattr(model, "thresholds", None)
    preds = Predictions(
        task=model.task.name,
        names=list(model.output_names),
        class_names=list(data.class_names),
        probs=probs,
        labels=labels,
        ids=ids,
        thresholds=None if thresholds is None else thresholds.detach().cpu().numpy(),
        groups=groups_of(ids, getattr(data, "groups", None)),
        split=f"fold{cv.fold}",
    )
    folder.write_oof(preds.rows())


def _score(model: Any, dataset: Any, batch_size: int) -> tuple[Any, Any]:
    """Probabilities and labels of every item of `dataset`, in order, on the model's device."""
    import torch
    from torch.utils.data import DataLoader

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    probs, labels = [], []
    with torch.inference_mode():
        for images, targets in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            probs.append(model.task.probabilities(model(images.to(device))).float().cpu())
            labels.append(targets)
    model.train(was_training)
    return torch.cat(probs).numpy(), torch.cat(labels).numpy()


def fold_of(folder: Path) -> tuple[int, int] | None:
    """(fold, folds) of a run folder from its saved config, or None for a run without `cv`."""
    config = folder / RunFolder.HYDRA / "config.yaml"
    if not config.exists():
        return None
    cv = OmegaConf.load(config).get("cv")
    if not cv or not cv.get("folds") or cv.get("fold") is None:
        return None
    return int(cv.fold), int(cv.folds)


def fold_folders(root: Path) -> list[Path]:
    """The fold run folders (those with a `metrics.json`) of the CV sweep at `root`, sorted by
    fold. UserError when `root` holds none, or two runs of the same fold or of different
    fold counts (two cross-validations in one folder)."""
    root = Path(root)
    found: dict[int, Path] = {}
    counts: set[int] = set()
    for run in RunFolder.all_under(root):
        known = fold_of(run.path)
        if known is None:
            continue
        fold, folds = known
        counts.add(folds)
        if fold in found:
            raise UserError(
                f"'{root}' holds two runs of fold {fold} ('{found[fold]}', '{run.path}'): "
                "give the folder of one cross-validation sweep"
            )
        found[fold] = run.path
    if not found:
        raise UserError(
            f"'{root}' holds no cross-validation fold runs (no run with cv.folds and cv.fold in "
            "its .hydra/config.yaml): give the sweep folder of `python train.py -m cv.folds=K`"
        )
    if len(counts) > 1:
        raise UserError(f"'{root}' mixes cross-validations of {sorted(counts)} folds")
    return [found[k] for k in sorted(found)]


def merge_oof(root: Path) -> Path:
    """`<root>/oof_predictions.csv`: every fold's `oof_predictions.csv` joined, with a `fold`
    column after `split`; written atomically, its path. UserError when a fold is missing (not
    run, failed, or without its file), the folds' columns differ, or an image is in two folds."""
    root = Path(root)
    folders = fold_folders(root)
    folds = fold_of(folders[0])[1]  # type: ignore[index]
    present = [fold_of(f)[0] for f in folders]  # type: ignore[index]
    missing = sorted(set(range(folds)) - set(present))
    if missing:
        raise UserError(
            f"'{root}': fold(s) {missing} of {folds} have no finished run; run them "
            f"(python train.py -m cv.folds={folds} cv.fold={','.join(map(str, missing))} "
            f"hydra.sweep.dir={root}) before merging"
        )
    header: list[str] | None = None
    rows: list[list[str]] = []
    seen: dict[str, int] = {}
    for fold, folder in zip(present, folders, strict=True):
        path = folder / OOF_FILE
        if not path.exists():
            raise UserError(f"'{folder}' (fold {fold}) has no {OOF_FILE}; train that fold again")
        with path.open(newline="", encoding="utf-8") as f:
            table = list(csv.reader(f))
        if header is not None and table[0] != header:
            raise UserError(f"'{path}' has other columns than fold 0's {OOF_FILE}")
        header = table[0]
        at = header.index("split") + 1
        for row in table[1:]:
            if row[0] in seen:
                raise UserError(f"image '{row[0]}' is in folds {seen[row[0]]} and {fold}")
            seen[row[0]] = fold
            rows.append([*row[:at], str(fold), *row[at:]])
    assert header is not None
    at = header.index("split") + 1
    text = io.StringIO(newline="")
    csv.writer(text).writerows([[*header[:at], "fold", *header[at:]], *rows])
    out = root / OOF_FILE
    write_text_atomic(out, text.getvalue())
    return out
