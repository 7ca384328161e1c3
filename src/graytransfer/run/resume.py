"""Which checkpoint a run continues from, and in which folder.

- `ckpt_path=null`: a new run in the new output folder.
- `ckpt_path=last`: `<output folder>/checkpoints/last.ckpt` (pass `hydra.run.dir=` of the run).
- `ckpt_path=PATH`: that checkpoint; when it sits in an unfinished run's `checkpoints/` folder
  the run continues in that folder.
- `ckpt_path=PATH` of a *finished* run (its folder has `metrics.json`): a new run in the new
  output folder trains on from that checkpoint (its epoch, optimizer and schedule state) up to
  `trainer.max_epochs`; the finished run is not touched. The new run records its parent (the
  run folder, checkpoint, epochs and W&B run id) in `resume.json`, `metrics.json` and its
  loggers' config, and is a new W&B run.
- `resume=auto`: the newest unfinished run of the same experiment (same config apart from
  `ckpt_path`, `resume` and `paths`) under `<log_dir>/<task_name>/`, else a new run.

A resumed run keeps its folder, its W&B run id and its parent (stored in the folder's
`resume.json`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graytransfer.atomic import write_json_atomic
from graytransfer.console import say
from graytransfer.errors import UserError
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.run.guards import FINISHED_MARKER, check_not_finished, is_finished

RUN_FILE = "resume.json"
LAST = "last.ckpt"
VOLATILE_KEYS = ("ckpt_path", "resume", "paths")


@dataclass(frozen=True)
class ResumePlan:
    """Where the run writes, the checkpoint `Trainer.fit` resumes from, the W&B run it continues
    and the finished run it trains on from (`parent`: run_dir, checkpoint, epochs, wandb_id)."""

    output_dir: Path
    ckpt_path: Path | None = None
    wandb_id: str | None = None
    parent: dict[str, Any] | None = None

    @property
    def resuming(self) -> bool:
        return self.ckpt_path is not None


def experiment_key(cfg: DictConfig) -> str:
    """A short hash of the config that defines the experiment (unresolved, so a new run folder or
    timestamp does not change it)."""
    plain = OmegaConf.to_container(cfg, resolve=False)
    assert isinstance(plain, dict)
    for key in VOLATILE_KEYS:
        plain.pop(key, None)
    return hashlib.sha1(json.dumps(plain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def read_run_file(run_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((run_dir / RUN_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def write_run_file(
    output_dir: Path,
    cfg: DictConfig,
    wandb_id: str | None,
    parent: dict[str, Any] | None = None,
) -> None:
    """Record what a later resume needs: the experiment key, the W&B run id and the parent run."""
    write_json_atomic(
        output_dir / RUN_FILE,
        {
            "experiment": experiment_key(cfg),
            "task_name": cfg.get("task_name"),
            "wandb_id": wandb_id,
            "parent": parent,
        },
    )


def run_dir_of(ckpt: Path) -> Path | None:
    """The run folder a checkpoint belongs to (`<run>/checkpoints/x.ckpt`), if it is one."""
    parent = ckpt.resolve().parent
    if parent.name == "checkpoints" and (parent.parent / RUN_FILE).exists():
        return parent.parent
    return None


def find_unfinished(log_dir: Path, task_name: str, key: str) -> Path | None:
    """The newest `last.ckpt` of an unfinished run with experiment `key` under
    `<log_dir>/<task_name>/runs/*` or `.../multiruns/*/*`."""
    base = Path(log_dir) / task_name
    candidates = []
    for run_file in [*base.glob(f"runs/*/{RUN_FILE}"), *base.glob(f"multiruns/*/*/{RUN_FILE}")]:
        run_dir = run_file.parent
        last = run_dir / "checkpoints" / LAST
        if is_finished(run_dir) or not last.is_file():
            continue
        if read_run_file(run_dir).get("experiment") == key:
            candidates.append(last)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def plan_resume(cfg: DictConfig) -> ResumePlan:
    """Decide the run folder and checkpoint from `ckpt_path` / `resume`; refuse to write into a
    folder that holds a finished run."""
    output_dir = Path(cfg.paths.output_dir)
    ckpt = cfg.get("ckpt_path")
    mode = cfg.get("resume")
    if mode not in (None, False, "auto", "never"):
        raise UserError(f"resume: '{mode}' is not valid; use resume=auto or leave it unset")
    if ckpt is None and mode == "auto":
        found = find_unfinished(Path(cfg.paths.log_dir), str(cfg.task_name), experiment_key(cfg))
        if found is None:
            say(
                f"resume=auto: no unfinished run of this experiment under "
                f"{Path(cfg.paths.log_dir) / str(cfg.task_name)}; starting a new run"
            )
            check_not_finished(output_dir)
            return ResumePlan(output_dir)
        ckpt = found
    elif ckpt == "last":
        ckpt = output_dir / "checkpoints" / LAST
        if not ckpt.is_file():
            raise UserError(
                f"ckpt_path=last: '{ckpt}' does not exist; add hydra.run.dir=<the run's folder> "
                "(outputs/train/runs/<time>), give ckpt_path=PATH, or use resume=auto"
            )
    if ckpt is None:
        check_not_finished(output_dir)
        return ResumePlan(output_dir)
    ckpt = Path(str(ckpt)).expanduser()
    if not ckpt.is_file():
        raise UserError(f"ckpt_path: '{ckpt}' is not a file; give the path of a .ckpt file")
    run_dir = run_dir_of(ckpt)
    if run_dir is not None and is_finished(run_dir):
        return _continue_finished(cfg, output_dir, run_dir, ckpt)
    run_dir = run_dir or output_dir
    check_not_finished(run_dir)
    run_file = read_run_file(run_dir)
    wandb_id = run_file.get("wandb_id") or read_checkpoint(ckpt).get("wandb_id")
    say(f"resuming from {ckpt} in {run_dir}")
    return ResumePlan(run_dir, ckpt, wandb_id, run_file.get("parent"))


def _continue_finished(cfg: DictConfig, output_dir: Path, run_dir: Path, ckpt: Path) -> ResumePlan:
    """A new run in `output_dir` training on from `ckpt` of finished run `run_dir`."""
    if output_dir.resolve() == run_dir.resolve():
        raise UserError(
            f"output folder '{output_dir}' already holds a finished run ({FINISHED_MARKER}); it "
            f"is never overwritten: to train it further, give ckpt_path={ckpt} without "
            "hydra.run.dir (a new run folder that records this run as its parent)"
        )
    check_not_finished(output_dir)
    epochs = finished_epochs(run_dir)
    trainer = cfg.get("trainer") or {}
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    by_epochs = max_epochs not in (None, -1) and max_steps in (None, -1)
    if epochs is not None and by_epochs and int(max_epochs) <= epochs:
        raise UserError(
            f"trainer.max_epochs={max_epochs}: the run in '{run_dir}' already trained "
            f"{epochs} epochs; set trainer.max_epochs above {epochs} to continue it"
        )
    parent = {
        "run_dir": str(run_dir),
        "checkpoint": str(ckpt),
        "epochs": epochs,
        "wandb_id": read_run_file(run_dir).get("wandb_id"),
    }
    say(f"continuing the finished run {run_dir} from {ckpt} in the new run folder {output_dir}")
    return ResumePlan(output_dir, ckpt, None, parent)


def finished_epochs(run_dir: Path) -> int | None:
    """The epochs a finished run trained (its `metrics.json`), if recorded."""
    try:
        epochs = json.loads((Path(run_dir) / FINISHED_MARKER).read_text()).get("epochs")
    except (OSError, json.JSONDecodeError, AttributeError):
        return None
    return int(epochs) if isinstance(epochs, int) else None
