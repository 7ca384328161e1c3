"""What a tool's `ckpt_path` names: one checkpoint, a list of them, or a CV sweep folder.

`load_model(ckpt_path, tta)` is the one entry evaluate, predict, export and compare use: it turns
the name into checkpoint paths (a folder: each fold run's best checkpoint, found through its
`RunFolder` record, and the folder's out-of-fold predictions) and hands them to
`graytransfer.evaluation.ensemble.ensemble_of`, which averages them (or loads the one checkpoint
unchanged). Run folders are this package's: the evaluation package never reads them itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graytransfer.errors import UserError
from graytransfer.evaluation.ensemble import ensemble_of
from graytransfer.model.restore import TrainedModel
from graytransfer.run.cv import OOF_FILE, fold_folders
from graytransfer.run.folder import RunFolder


def load_model(ckpt_path: Any, tta: Sequence[str] = ()) -> TrainedModel:
    """The model `ckpt_path` names, averaged over `tta` views (`evaluation.ensemble`)."""
    paths, root = checkpoints_of(ckpt_path)
    oof = None if root is None else root / OOF_FILE
    return ensemble_of(paths, tta, oof=oof, source=root)


def checkpoints_of(ckpt_path: Any) -> tuple[list[Path], Path | None]:
    """The member checkpoints named by `ckpt_path` (a path, a list of paths, or a CV sweep folder:
    each fold's best checkpoint) and the folder when it was one."""
    if isinstance(ckpt_path, (list, tuple)) or (
        hasattr(ckpt_path, "__iter__") and not isinstance(ckpt_path, (str, Path))
    ):
        paths = [Path(str(p)).expanduser() for p in ckpt_path]
        if not paths:
            raise UserError("ckpt_path: the list is empty; give one checkpoint or several")
        for path in paths:
            if path.is_dir():
                raise UserError(f"ckpt_path: '{path}' is a folder; a list holds checkpoint files")
        return paths, None
    path = Path(str(ckpt_path)).expanduser()
    if not path.is_dir():
        return [path], None
    return [best_checkpoint_of(folder) for folder in fold_folders(path)], path


def best_checkpoint_of(folder: Path) -> Path:
    """A finished run folder's best checkpoint (its record's `best_checkpoint`, found in the
    folder's checkpoints/ if the folder was moved)."""
    run = RunFolder(folder)
    if not run.is_finished:
        raise UserError(f"ckpt_path: '{folder}' holds no finished run (no {RunFolder.RECORD})")
    best = (run.record() or {}).get("best_checkpoint")
    for candidate in [Path(best), run.checkpoints / Path(best).name] if best else []:
        if candidate.is_file():
            return candidate
    raise UserError(
        f"ckpt_path: the run '{folder}' records no best checkpoint that exists "
        f"({best or 'none recorded'}); give its checkpoint files as a list instead"
    )
