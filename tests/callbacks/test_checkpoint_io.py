"""`AtomicCheckpointIO`: one atomic write per checkpoint, in the training thread or a background
one; and `ResumableCheckpoint` installing it and telling its loggers only of files on disk.
Real files, a real Lightning `Trainer` over Lightning's `BoringModel`, a real `CSVLogger`."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import lightning as L
import pytest
import torch
from helpers.integrity_helpers import SlowWrites
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.loggers import CSVLogger

from graytransfer.callbacks import checkpoint_io
from graytransfer.callbacks.checkpoint import ResumableCheckpoint
from graytransfer.callbacks.checkpoint_io import PARTIAL, AtomicCheckpointIO, snapshot


def checkpoint(value: float) -> dict:
    """A small checkpoint-shaped dict: tensors in nested containers, and plain values."""
    return {
        "state_dict": {"w": torch.full((64, 64), value), "b": torch.full((64,), value)},
        "optimizer_states": [{"state": {0: {"exp_avg": torch.full((8,), value)}}}],
        "epoch": int(value),
        "callbacks": {"best_k_models": {"a.ckpt": torch.tensor(value)}},
    }


def loaded(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def same(a: dict, b: dict) -> bool:
    if isinstance(a, torch.Tensor):
        return torch.equal(a, b)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def fill_the_disk(monkeypatch) -> None:
    """From now on the fsync of every checkpoint's partial file fails with ENOSPC (as on a full
    disk where space is allotted late): the real write fails midway."""
    real = os.fsync

    def fsync(fd: int) -> None:
        if os.readlink(f"/proc/self/fd/{fd}").endswith(PARTIAL):
            raise OSError(errno.ENOSPC, "No space left on device (test)")
        real(fd)

    monkeypatch.setattr(os, "fsync", fsync)


@pytest.mark.parametrize("background", [False, True])
def test_a_save_writes_the_whole_checkpoint_under_its_name_and_nothing_else(
    tmp_path: Path, background: bool
) -> None:
    """Catches a lost or partial write, a temporary file left behind, a missing folder."""
    io = AtomicCheckpointIO(background=background)
    target = tmp_path / "checkpoints" / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), target)
    io.teardown()
    assert same(loaded(target), checkpoint(1.0))
    assert [p.name for p in target.parent.iterdir()] == ["last.ckpt"]


def test_a_background_write_stores_the_checkpoint_as_it_was_when_saved(
    tmp_path: Path, monkeypatch
) -> None:
    """Catches a background write that reads tensors training has changed since the save (no
    snapshot): the write is held back until the live tensors were overwritten."""
    release = threading.Event()
    real = checkpoint_io.write_atomically

    def held_back(data: dict, path: Path) -> None:
        release.wait(10)
        real(data, path)

    monkeypatch.setattr(checkpoint_io, "write_atomically", held_back)
    io = AtomicCheckpointIO(background=True)
    live = checkpoint(1.0)
    io.save_checkpoint(live, tmp_path / "a.ckpt")
    assert io.writing
    live["state_dict"]["w"].fill_(7.0)  # the next optimiser step, in place
    live["optimizer_states"][0]["state"][0]["exp_avg"].fill_(7.0)
    live["callbacks"]["best_k_models"]["b.ckpt"] = torch.tensor(2.0)  # bookkeeping moves on
    release.set()
    io.wait()
    assert not io.writing
    assert same(loaded(tmp_path / "a.ckpt"), checkpoint(1.0))


def test_snapshot_shares_no_tensor_or_container_with_the_checkpoint() -> None:
    original = checkpoint(3.0)
    copy = snapshot(original)
    assert same(copy, original)
    assert copy["state_dict"]["w"].data_ptr() != original["state_dict"]["w"].data_ptr()
    assert copy["callbacks"]["best_k_models"] is not original["callbacks"]["best_k_models"]


def test_a_failed_background_write_is_raised_by_the_next_save_and_keeps_the_previous_file(
    tmp_path: Path, monkeypatch
) -> None:
    """Catches a background failure that goes unseen, and a save after it that carries on."""
    io = AtomicCheckpointIO(background=True)
    target = tmp_path / "last.ckpt"
    io.save_checkpoint(checkpoint(1.0), target)
    io.wait()
    fill_the_disk(monkeypatch)
    io.save_checkpoint(checkpoint(2.0), target)
    with pytest.raises(OSError, match=f"No space left on device.*{target}"):
        io.save_checkpoint(checkpoint(3.0), target)
    assert same(loaded(target), checkpoint(1.0))
    assert not list(tmp_path.glob(f".*{PARTIAL}"))


def test_a_removal_waits_for_the_write_in_flight_and_never_follows_a_failed_one(
    tmp_path: Path, monkeypatch
) -> None:
    """Catches an old top-k file removed while (or although) its replacement is not on disk:
    a failed write then leaves neither."""
    io = AtomicCheckpointIO(background=True)
    old = tmp_path / "epoch=0.ckpt"
    io.save_checkpoint(checkpoint(0.0), old)
    io.wait()
    monkeypatch.setattr(checkpoint_io, "write_atomically", SlowWrites(delay=0.2))
    with monkeypatch.context() as full:
        fill_the_disk(full)
        io.save_checkpoint(checkpoint(1.0), tmp_path / "epoch=1.ckpt")
        with pytest.raises(OSError, match="No space left on device"):
            io.remove_checkpoint(old)
    assert same(loaded(old), checkpoint(0.0))
    io.save_checkpoint(checkpoint(2.0), tmp_path / "epoch=2.ckpt")
    io.remove_checkpoint(old)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch=2.ckpt"]


def test_teardown_waits_for_the_last_write_and_raises_its_failure(
    tmp_path: Path, monkeypatch
) -> None:
    """Catches a fit that ends before its last checkpoint is on disk, or hides that it failed."""
    io = AtomicCheckpointIO(background=True)
    monkeypatch.setattr(checkpoint_io, "write_atomically", SlowWrites(delay=0.2))
    io.save_checkpoint(checkpoint(1.0), tmp_path / "last.ckpt")
    io.teardown()
    assert same(loaded(tmp_path / "last.ckpt"), checkpoint(1.0))
    fill_the_disk(monkeypatch)
    io.save_checkpoint(checkpoint(2.0), tmp_path / "last.ckpt")  # a new worker after teardown
    with pytest.raises(OSError, match="No space left on device"):
        io.teardown()
    io.teardown()  # raised once; the worker is gone
    assert same(loaded(tmp_path / "last.ckpt"), checkpoint(1.0))


def test_storage_options_are_refused_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="storage_options.*plugins"):
        AtomicCheckpointIO().save_checkpoint(checkpoint(1.0), tmp_path / "a.ckpt", {"x": 1})


class FileCheckingLogger(CSVLogger):
    """A CSV logger that, when told of a saved checkpoint, records whether each file the
    callback names is on disk and whole (what an uploading logger, W&B `log_model`, reads)."""

    def __init__(self, save_dir: Path) -> None:
        super().__init__(save_dir)
        self.seen: list[tuple[int, bool]] = []

    def after_save_checkpoint(self, checkpoint_callback) -> None:
        path = Path(checkpoint_callback.last_model_path)
        step = loaded(path)["global_step"] if path.is_file() else -1
        self.seen.append((step, not list(path.parent.glob(f".*{PARTIAL}"))))


def fit(
    run_dir: Path, *, background: bool, plugins=None, **checkpoint_args
) -> tuple[L.Trainer, FileCheckingLogger]:
    logger = FileCheckingLogger(run_dir)
    trainer = L.Trainer(
        default_root_dir=run_dir,
        accelerator="cpu",
        max_epochs=3,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=logger,
        enable_progress_bar=False,
        enable_model_summary=False,
        plugins=plugins,
        callbacks=[
            ResumableCheckpoint(
                dirpath=run_dir / "checkpoints",
                write_in_background=background,
                **{"save_last": True, "save_top_k": 0, **checkpoint_args},
            )
        ],
    )
    trainer.fit(BoringModel())
    return trainer, logger


@pytest.mark.parametrize("background", [False, True])
def test_the_callback_installs_the_io_and_tells_loggers_only_of_written_files(
    tmp_path: Path, monkeypatch, background: bool
) -> None:
    """Catches loggers told of a checkpoint before it is on disk (each write is slowed down so
    the telling would come first), a notice lost at the end of the fit, and the default IO kept."""
    monkeypatch.setattr(checkpoint_io, "write_atomically", SlowWrites(delay=0.2))
    trainer, logger = fit(tmp_path, background=background)
    io = trainer.strategy.checkpoint_io
    assert type(io) is AtomicCheckpointIO and io.background is background
    assert logger.seen == [(2, True), (4, True), (6, True)]  # every epoch's, once it was whole
    assert loaded(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 6


class OwnCheckpointIO(TorchCheckpointIO):
    """A user's checkpoint IO (say, one writing to object storage)."""


def test_a_trainer_given_its_own_checkpoint_io_keeps_it(tmp_path: Path) -> None:
    own = OwnCheckpointIO()
    trainer, _ = fit(tmp_path, background=True, plugins=[own])
    assert trainer.strategy.checkpoint_io is own
    assert loaded(tmp_path / "checkpoints" / "last.ckpt")["global_step"] == 6


def test_save_last_link_copies_the_written_file_where_links_are_refused(
    tmp_path: Path, monkeypatch
) -> None:
    """Catches `save_last="link"` linking or copying a file whose background write has not
    finished: links are refused (as on Windows without the right), so Lightning copies the top-k
    file, and every write is slowed down."""
    monkeypatch.setattr(checkpoint_io, "write_atomically", SlowWrites(delay=0.2))

    def refused(*args, **kwargs) -> None:
        raise OSError(errno.EPERM, "symbolic links are not allowed here (test)")

    monkeypatch.setattr(os, "symlink", refused)
    fit(tmp_path, background=True, save_last="link", save_top_k=1, filename="latest")
    folder = tmp_path / "checkpoints"
    assert loaded(folder / "last.ckpt")["global_step"] == 6
    assert same(loaded(folder / "last.ckpt"), loaded(folder / "latest.ckpt"))


@pytest.mark.parametrize("background", [False, True])
def test_a_users_files_in_the_checkpoint_folder_are_never_replaced_or_removed(
    tmp_path: Path, background: bool
) -> None:
    """Catches a write or a clean-up that touches a file the project did not write: a user's
    `last.ckpt` and a look-alike partial file in the checkpoint folder stay byte for byte; the
    callback writes `last-v1.ckpt` (Lightning's version counter) and replaces only its own."""
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    users = {folder / "last.ckpt": b"a user's checkpoint", folder / f".notes{PARTIAL}": b"notes"}
    for path, data in users.items():
        path.write_bytes(data)
    fit(tmp_path, background=background)
    assert all(path.read_bytes() == data for path, data in users.items())
    assert loaded(folder / "last-v1.ckpt")["global_step"] == 6
    assert sorted(p.name for p in folder.iterdir()) == [
        f".notes{PARTIAL}",
        "last-v1.ckpt",
        "last.ckpt",
    ]
