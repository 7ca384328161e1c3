"""Checkpoints that survive crashes: atomic writes, exact resume state, a save on SIGTERM/SIGINT.

`ResumableCheckpoint` is Lightning's `ModelCheckpoint` with four changes:
- every file is written once, to a hidden temporary name, and renamed into place, so a crash
  mid-write never leaves a truncated `last.ckpt` or `best.ckpt`; by default the write runs in a
  background thread while training goes on (`graytransfer.callbacks.checkpoint_io`, which this
  callback installs as the trainer's checkpoint IO; `write_in_background=false` writes in the
  training thread);
- a model with a NaN/inf parameter or buffer is never saved: the save raises `LossNotFinite`
  and the last good checkpoint stays (`graytransfer.callbacks.nan_guard` normally stops such a
  run earlier);
- its state in the checkpoint carries the RNG states (torch, numpy, python) and the W&B run id,
  so a run resumed from an end-of-epoch checkpoint continues bit for bit;
- a SIGTERM (SLURM pre-emption) or Ctrl-C saves `last.ckpt` before the process exits, and says
  how to continue (unless the model is not finite). Other exceptions save nothing (a diverged
  model is not worth keeping).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any
from weakref import proxy

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.utilities.exceptions import SIGTERMException

from graytransfer.callbacks.checkpoint_io import (
    PARTIAL,
    AtomicCheckpointIO,
    wait_for_checkpoint_writes,
    writer_is_gone,
)
from graytransfer.callbacks.nan_guard import ADVICE, first_non_finite, kept_checkpoint
from graytransfer.errors import LossNotFinite


def rng_states() -> dict[str, Any]:
    """The process' random states (torch CPU and CUDA, numpy, python)."""
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": _numpy_state_as_tensors(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _numpy_state_as_tensors() -> tuple:
    """numpy's MT19937 state with its key array as a tensor, so the checkpoint stays loadable
    with `torch.load(weights_only=True)`."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what `rng_states` captured (missing entries are left alone)."""
    if "torch" in states:
        torch.set_rng_state(states["torch"])
    if "numpy" in states:
        name, keys, pos, has_gauss, cached = states["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    if "python" in states:
        random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def wandb_run_id(trainer: L.Trainer) -> str | None:
    """The id of the trainer's W&B run, if it logs to W&B."""
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger):
            return logger.version
    return None


class ResumableCheckpoint(ModelCheckpoint):
    """`ModelCheckpoint` with atomic (by default background) writes, exact-resume state and a
    save on interruption. `write_in_background` picks how the `AtomicCheckpointIO` it installs
    writes, in place of Lightning's `TorchCheckpointIO`; every other argument is
    `ModelCheckpoint`'s. A trainer given a checkpoint IO plugin of another class
    (`plugins=[...]`) keeps it, and that plugin decides how files are written."""

    def __init__(self, *args: Any, write_in_background: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.write_in_background = write_in_background
        self._unannounced = False  # a background write the loggers have not been told of

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        super().setup(trainer, pl_module, stage)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:  # Lightning's default
            trainer.strategy.checkpoint_io = AtomicCheckpointIO(self.write_in_background)
        if trainer.is_global_zero and self.dirpath and Path(self.dirpath).is_dir():
            for stale in Path(self.dirpath).glob(f".*{PARTIAL}"):  # left by a killed writer
                if writer_is_gone(stale):  # never the file another live process is writing
                    stale.unlink(missing_ok=True)

    def _save_checkpoint(self, trainer: L.Trainer, filepath: str) -> None:
        bad = first_non_finite(trainer.lightning_module)
        if trainer.strategy.reduce_boolean_decision(bad is not None, all=False):
            raise LossNotFinite(
                f"the model diverged at epoch {trainer.current_epoch}, step {trainer.global_step} "
                f"({bad or 'a parameter on another rank'} holds NaN/inf values); "
                f"{Path(filepath).name} was not written and {kept_checkpoint(trainer)}. {ADVICE}"
            )
        self._announce_written(trainer)  # the write before this one, once it is on disk
        trainer.save_checkpoint(filepath, self.save_weights_only)  # barrier included
        self._last_global_step_saved = trainer.global_step
        self._last_checkpoint_saved = filepath
        self._unannounced = True
        writer = trainer.strategy.checkpoint_io
        if not (isinstance(writer, AtomicCheckpointIO) and writer.writing):
            self._announce_written(trainer)

    def _announce_written(self, trainer: L.Trainer) -> None:
        """Wait for the write in flight, then tell the loggers (which may upload the files) of
        the checkpoint it wrote."""
        wait_for_checkpoint_writes(trainer)
        if self._unannounced and trainer.is_global_zero:
            for logger in trainer.loggers:
                logger.after_save_checkpoint(proxy(self))
        self._unannounced = False

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._announce_written(trainer)  # the strategy's teardown has waited for the last write

    def _link_checkpoint(self, trainer: L.Trainer, filepath: str, linkpath: str) -> None:
        """`save_last="link"`: the file linked to (or copied, where links are refused) is on
        disk before the link is made."""
        wait_for_checkpoint_writes(trainer)
        super()._link_checkpoint(trainer, filepath, linkpath)

    _last_step_of_last: int = -1

    def _save_last_checkpoint(self, trainer: L.Trainer, monitor_candidates: dict) -> None:
        super()._save_last_checkpoint(trainer, monitor_candidates)
        self._last_step_of_last = trainer.global_step

    def _refresh_last(self, trainer: L.Trainer) -> None:
        """Lightning writes `last.ckpt` only when a best checkpoint was written too; a resumable
        run needs it after every epoch, whether the monitored metric improved or not."""
        if (
            self.save_last
            and self._last_step_of_last != trainer.global_step
            and not trainer.fast_dev_run
            and not trainer.sanity_checking
            and trainer.state.fn == "fit"
        ):
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        super().on_train_epoch_end(trainer, pl_module)
        if self._should_save_on_train_epoch_end(trainer):
            self._refresh_last(trainer)

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "rng": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if state_dict.get("rng"):
            set_rng_states(state_dict["rng"])

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint["wandb_id"] = wandb_run_id(trainer)

    def on_exception(
        self, trainer: L.Trainer, pl_module: L.LightningModule, exception: BaseException
    ) -> None:
        """On SIGTERM or Ctrl-C save `last.ckpt` (atomically) and say how to continue."""
        failed = self._finish_write_in_flight(trainer)
        if not isinstance(exception, (SIGTERMException, KeyboardInterrupt)) or failed:
            return
        if trainer.fast_dev_run or trainer.sanity_checking or not self.save_last:
            return
        if first_non_finite(pl_module) is not None:
            if trainer.is_global_zero:
                print(
                    f"graytransfer: stopped by {type(exception).__name__}; the model is not "
                    f"finite, so last.ckpt was not updated and {kept_checkpoint(trainer)}",
                    flush=True,
                )
            return
        if self._last_global_step_saved != trainer.global_step:
            self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))
            if self._finish_write_in_flight(trainer):
                return
        if trainer.is_global_zero and self.last_model_path:
            what = "SIGTERM" if isinstance(exception, SIGTERMException) else "Ctrl-C"
            run_dir = Path(self.last_model_path).parent.parent
            print(
                f"graytransfer: stopped by {what} after {trainer.current_epoch} finished "
                f"epoch(s), step {trainer.global_step}; saved {self.last_model_path}. Continue "
                f"with the same command plus `hydra.run.dir={run_dir} ckpt_path=last` (or "
                "`resume=auto`)",
                flush=True,
            )

    def _finish_write_in_flight(self, trainer: L.Trainer) -> bool:
        """While the run stops on an exception: wait for the checkpoint write in flight; if it
        failed, say so in one line (the exception that stopped the run stays the one raised)
        and return True."""
        try:
            self._announce_written(trainer)
        except Exception as error:  # noqa: BLE001 - reported, the run's own exception goes on
            if trainer.is_global_zero:
                print(
                    f"graytransfer: a checkpoint write failed while the run stopped ({error}); "
                    f"{self.dirpath} holds the checkpoints of the saves before it",
                    flush=True,
                )
            return True
        return False
