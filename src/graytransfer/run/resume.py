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

from graytransfer.console import say
from graytransfer.errors import UserError
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.run.folder import RunFolder, RunState

VOLATILE_KEYS = ("ckpt_path", "resume", "paths")


@dataclass(frozen=True)
class ResumePlan:
    """The run folder the run writes in, the checkpoint `Trainer.fit` resumes from, the W&B run
    it continues and the finished run it trains on from (`parent`: run_dir, checkpoint, epochs,
    wandb_id)."""

    folder: RunFolder
    ckpt_path: Path | None = None
    wandb_id: str | None = None
    parent: dict[str, Any] | None = None

    @property
    def output_dir(self) -> Path:
        return self.folder.path

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


def run_file_content(
    cfg: DictConfig, wandb_id: str | None, parent: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What a later resume needs (`resume.json`): the experiment key, the W&B run id and the
    parent run."""
    return {
        "experiment": experiment_key(cfg),
        "task_name": cfg.get("task_name"),
        "wandb_id": wandb_id,
        "parent": parent,
    }


def find_unfinished(log_dir: Path, task_name: str, key: str) -> Path | None:
    """The newest `last.ckpt` of an interrupted or failed run with experiment `key` under
    `<log_dir>/<task_name>/runs/*` or `.../multiruns/*/*` (a run another process holds is not
    one to resume)."""
    base = Path(log_dir) / task_name
    candidates = []
    for pattern in (f"runs/*/{RunFolder.RUN_FILE}", f"multiruns/*/*/{RunFolder.RUN_FILE}"):
        for run_file in base.glob(pattern):
            folder = RunFolder(run_file.parent)
            resumable = folder.state in (RunState.INTERRUPTED, RunState.FAILED)
            if not resumable or not folder.last_checkpoint.is_file():
                continue
            if folder.run_file().get("experiment") == key:
                candidates.append(folder.last_checkpoint)
    return max(candidates, key=lambda p: p.stat().st_mtime) if candidates else None


def plan_resume(cfg: DictConfig) -> ResumePlan:
    """Decide the run folder and checkpoint from `ckpt_path` / `resume`; refuse to write into a
    folder that holds a finished run."""
    output = RunFolder(cfg.paths.output_dir)
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
            output.check_not_finished()
            return ResumePlan(output)
        ckpt = found
    elif ckpt == "last":
        ckpt = output.last_checkpoint
        if not ckpt.is_file():
            raise UserError(
                f"ckpt_path=last: '{ckpt}' does not exist; add hydra.run.dir=<the run's folder> "
                "(outputs/train/runs/<time>), give ckpt_path=PATH, or use resume=auto"
            )
    if ckpt is None:
        output.check_not_finished()
        return ResumePlan(output)
    ckpt = Path(str(ckpt)).expanduser()
    if not ckpt.is_file():
        raise UserError(f"ckpt_path: '{ckpt}' is not a file; give the path of a .ckpt file")
    run_folder = RunFolder.of_checkpoint(ckpt)
    if run_folder is not None and run_folder.is_finished:
        return _continue_finished(cfg, output, run_folder, ckpt)
    run_folder = run_folder or output
    run_folder.check_not_finished()
    run_file = run_folder.run_file()
    wandb_id = run_file.get("wandb_id") or read_checkpoint(ckpt).get("wandb_id")
    say(f"resuming from {ckpt} in {run_folder.path}")
    return ResumePlan(run_folder, ckpt, wandb_id, run_file.get("parent"))


def _continue_finished(
    cfg: DictConfig, output: RunFolder, finished: RunFolder, ckpt: Path
) -> ResumePlan:
    """A new run in `output` training on from `ckpt` of the finished run in `finished`."""
    if output == finished:
        raise UserError(
            f"output folder '{output.path}' already holds a finished run ({RunFolder.RECORD}); "
            f"it is never overwritten: to train it further, give ckpt_path={ckpt} without "
            "hydra.run.dir (a new run folder that records this run as its parent)"
        )
    output.check_not_finished()
    epochs = finished.finished_epochs()
    trainer = cfg.get("trainer") or {}
    max_epochs, max_steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    by_epochs = max_epochs not in (None, -1) and max_steps in (None, -1)
    if epochs is not None and by_epochs and int(max_epochs) <= epochs:
        raise UserError(
            f"trainer.max_epochs={max_epochs}: the run in '{finished.path}' already trained "
            f"{epochs} epochs; set trainer.max_epochs above {epochs} to continue it"
        )
    parent = {
        "run_dir": str(finished.path),
        "checkpoint": str(ckpt),
        "epochs": epochs,
        "wandb_id": finished.run_file().get("wandb_id"),
    }
    say(
        f"continuing the finished run {finished.path} from {ckpt} in the new run folder "
        f"{output.path}"
    )
    return ResumePlan(output, ckpt, None, parent)
