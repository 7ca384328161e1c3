"""The run folder, one object: `RunFolder(path)` owns every file name a run writes, reads the
folder's state by one rule, writes every file atomically, and holds the folder's lock.

What a run folder holds (names only here; no other module spells them):
`metrics.json` (the run's record: written last, when the run ends, or by a sweep for a job that
failed), `resume.json` (what a resume needs: experiment key, W&B id, parent run),
`classes.json` and `split.csv` (the data's classes and exact split; `bad_files.txt` when files
were skipped), `predictions.csv` (every test image's truth, probabilities and decisions:
`graytransfer.evaluation.predictions`), `reliability.png` (the test probabilities' reliability
diagram: `graytransfer.evaluation.calibration`), `subgroups.csv` (the test metrics per subgroup,
`eval.subgroups`: `graytransfer.evaluation.subgroups`), `checkpoints/` (`last.ckpt`, best
checkpoints), `.hydra/` (the job's config), `.run.lock` and `.run.lock.pid` (the lock and its
holder).

The state, one rule (`RunFolder.state`):
- `finished`: `metrics.json` exists and does not say `status: failed` (a `diverged` run is a
  result; an unreadable `metrics.json` counts as finished: it is never overwritten);
- `failed`: `metrics.json` says `status: failed`;
- `new`: no folder, or only what Hydra writes at a job's start (`*.log`, `.hydra/`) and lock
  files: nothing a run wrote;
- `running`: another process holds the lock;
- `interrupted`: anything else (a run that was killed or stopped: `resume.json`, checkpoints).

The lock: `with folder.lock():` takes `.run.lock` (an OS file lock via `filelock`, released by
the OS if the process dies) and writes the holder's pid beside it. A second process is refused
at once (`RunFolderInUse`, naming the folder and the holder). DDP ranks other than 0 re-run the
same command in the same folder; they never take the lock and never write the folder's files.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Any

from graytransfer.atomic import write_bytes_atomic, write_json_atomic, write_text_atomic
from graytransfer.errors import UserError
from graytransfer.run.lock import exclusive, held, is_secondary_rank


class RunState(str, Enum):
    NEW = "new"
    RUNNING = "running"
    INTERRUPTED = "interrupted"
    FINISHED = "finished"
    FAILED = "failed"


class RunFolder:
    """One run's folder (it need not exist yet). See the module docstring for its files and
    states."""

    RECORD = "metrics.json"
    RUN_FILE = "resume.json"
    CLASSES = "classes.json"
    SPLIT = "split.csv"
    BAD_FILES = "bad_files.txt"
    PREDICTIONS = "predictions.csv"
    RELIABILITY = "reliability.png"
    SUBGROUPS = "subgroups.csv"
    #: cross-validation (graytransfer.run.cv): the folds and the held-out fold's predictions
    FOLDS = "folds.csv"
    OOF_PREDICTIONS = "oof_predictions.csv"
    CHECKPOINTS = "checkpoints"
    LAST = "last.ckpt"
    HYDRA = ".hydra"
    LOCK = ".run.lock"
    LOCK_HOLDER = ".run.lock.pid"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunFolder('{self.path}')"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunFolder) and self.path.resolve() == other.path.resolve()

    def __hash__(self) -> int:
        return hash(self.path.resolve())

    # -- where things are -------------------------------------------------------------------
    @property
    def record_file(self) -> Path:
        return self.path / self.RECORD

    @property
    def checkpoints(self) -> Path:
        return self.path / self.CHECKPOINTS

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / self.LAST

    @classmethod
    def of_checkpoint(cls, ckpt: Path) -> RunFolder | None:
        """The run folder a checkpoint belongs to (`<run>/checkpoints/x.ckpt` beside a
        `resume.json`), if it is one."""
        parent = Path(ckpt).resolve().parent
        if parent.name == cls.CHECKPOINTS and (parent.parent / cls.RUN_FILE).exists():
            return cls(parent.parent)
        return None

    @classmethod
    def all_under(cls, root: Path) -> Iterator[RunFolder]:
        """Every folder under `root` (itself included) that holds a run record, in path order;
        W&B's own folders are skipped."""
        for path in sorted(Path(root).rglob(cls.RECORD)):
            if "wandb" not in path.relative_to(root).parts:
                yield cls(path.parent)

    # -- the state ---------------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        if self.record_file.exists():
            status = (self.record() or {}).get("status")
            return RunState.FAILED if status == "failed" else RunState.FINISHED
        if self.holds_no_run(also_allowed=[log.name for log in self.path.glob("*.log")]):
            return RunState.NEW
        return RunState.RUNNING if self.is_locked() else RunState.INTERRUPTED

    @property
    def is_finished(self) -> bool:
        return self.state is RunState.FINISHED

    def holds_no_run(self, also_allowed: Iterable[str] = ()) -> bool:
        """True when the folder is missing or holds only `.hydra/`, lock files and the names in
        `also_allowed` (the job's own log files): nothing a run wrote."""
        if not self.path.is_dir():
            return not self.path.exists()
        allowed = {self.LOCK, self.LOCK_HOLDER, self.HYDRA, *also_allowed}
        return all(entry.name in allowed for entry in self.path.iterdir())

    def check_not_finished(self) -> None:
        """A folder holding a finished run is never written into again: a UserError if it does."""
        if self.is_finished:
            raise UserError(
                f"output folder '{self.path}' already holds a finished run ({self.RECORD}); it "
                "is never overwritten: leave hydra.run.dir unset for a new folder or pick "
                "another one"
            )

    # -- reading and writing ------------------------------------------------------------------
    def record(self) -> dict[str, Any] | None:
        """The run's record (`metrics.json`), or None when it is missing or unreadable."""
        return _read_json(self.record_file)

    def write_record(self, record: dict[str, Any]) -> None:
        """Write the run's record, atomically (a reader sees the old file or the new one)."""
        write_json_atomic(self.record_file, record)

    def write_failure(self, record: dict[str, Any]) -> bool:
        """Record a job that raised, unless the folder already has a record (a finished run's is
        never overwritten); True if written. The caller writes from rank 0 only."""
        if self.record_file.exists():
            return False
        self.write_record(record)
        return True

    def finished_epochs(self) -> int | None:
        """The epochs a finished run trained (its record's `epochs`), if recorded."""
        epochs = (self.record() or {}).get("epochs")
        return epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None

    def run_file(self) -> dict[str, Any]:
        """`resume.json`: experiment key, task name, W&B run id and parent run ({} if none)."""
        return _read_json(self.path / self.RUN_FILE) or {}

    def has_run_file(self) -> bool:
        return (self.path / self.RUN_FILE).exists()

    def write_run_file(self, content: dict[str, Any]) -> None:
        write_json_atomic(self.path / self.RUN_FILE, content)

    def write_split(
        self, classes: dict[str, Any], split_csv: str, bad_files: Iterable[Any] = ()
    ) -> None:
        """The data's `classes.json`, `split.csv` (the CSV text) and, when files were skipped,
        `bad_files.txt`, each written atomically."""
        write_text_atomic(self.path / self.CLASSES, json.dumps(classes, indent=2) + "\n")
        write_text_atomic(self.path / self.SPLIT, split_csv)
        bad = "".join(f"{b}\n" for b in bad_files)
        if bad:
            write_text_atomic(self.path / self.BAD_FILES, bad)

    def write_predictions(self, rows: Iterable[Sequence[Any]]) -> Path:
        """`predictions.csv` (rows, header first: `Predictions.rows()`), written atomically;
        its path. The caller writes from rank 0 only."""
        text = io.StringIO(newline="")
        csv.writer(text).writerows(rows)
        path = self.path / self.PREDICTIONS
        write_text_atomic(path, text.getvalue())
        return path

    def write_subgroups(self, rows: Iterable[Sequence[Any]]) -> Path:
        """`subgroups.csv` (rows, header first: `evaluation.subgroup_output.subgroup_rows`), written
        atomically; its path. Rank 0 only."""
        text = io.StringIO(newline="")
        csv.writer(text).writerows(rows)
        path = self.path / self.SUBGROUPS
        write_text_atomic(path, text.getvalue())
        return path

    def write_reliability(self, png: bytes) -> Path:
        """`reliability.png` (the reliability diagram's PNG bytes:
        `graytransfer.evaluation.calibration.reliability_png`), written atomically; its path.
        The caller writes from rank 0 only."""
        path = self.path / self.RELIABILITY
        write_bytes_atomic(path, png)
        return path

    def write_folds(self, text: str) -> Path:
        """`folds.csv` (the CSV text: `graytransfer.data.split.folds.folds_csv`), atomically."""
        path = self.path / self.FOLDS
        write_text_atomic(path, text)
        return path

    def write_oof(self, rows: Iterable[Sequence[Any]]) -> Path:
        """`oof_predictions.csv` (rows, header first, as `write_predictions`), atomically."""
        text = io.StringIO(newline="")
        csv.writer(text).writerows(rows)
        path = self.path / self.OOF_PREDICTIONS
        write_text_atomic(path, text.getvalue())
        return path

    def save_hydra_config(self, files: dict[str, str], subdir: str | None = None) -> None:
        """Hydra's job files (`config.yaml`, `hydra.yaml`, `overrides.yaml`: name -> YAML text)
        into `.hydra/` (or Hydra's `output_subdir`), each atomically. Rank 0 only."""
        if is_secondary_rank():
            return
        for name, text in files.items():
            write_text_atomic(self.path / (subdir or self.HYDRA) / name, text)

    # -- the lock ------------------------------------------------------------------------------
    def lock_holder(self) -> str:
        """Who holds the lock, as written by the holder (`pid 1234 on host`)."""
        try:
            text = (self.path / self.LOCK_HOLDER).read_text().strip()
        except OSError:
            text = ""
        return text or "pid unknown"

    def is_locked(self) -> bool:
        """True when a process (this one included) holds the folder's lock. Creates nothing."""
        if not (self.path / self.LOCK).exists():
            return False
        with held(self.path / self.LOCK) as mine:
            return not mine

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's exclusive lock (the folder is created if missing) for the block.

        Raises `RunFolderInUse` at once if another process holds it. Secondary DDP ranks pass
        through without locking. Released when the block ends, also on an exception or
        SystemExit (and by the OS if the process is killed)."""
        if is_secondary_rank():
            yield
            return
        self.path.mkdir(parents=True, exist_ok=True)
        refusal = (
            f"output folder '{self.path}' is in use by another run ({self.lock_holder()}); a run "
            "folder belongs to one process: leave hydra.run.dir unset for a new folder or pick "
            "another one"
        )
        with exclusive(self.path / self.LOCK, self.path / self.LOCK_HOLDER, refusal):
            yield

    def remove_if_unused(self, also_allowed: Iterable[str] = ()) -> bool:
        """Delete the folder if, under its lock, it still holds no run (`holds_no_run` with
        `also_allowed`: the job's own log files): only what Hydra and this project wrote is
        ever removed. False when another process holds the lock or anything else is there."""
        if not self.path.is_dir():
            return False
        with held(self.path / self.LOCK) as mine:
            if not mine or not self.holds_no_run(also_allowed):
                return False
            shutil.rmtree(self.path)
        return True


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        content = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return content if isinstance(content, dict) else None
