"""`graytransfer.atomic`: a file is replaced whole or not at all, a failed write removes only
the temporary file it created, and `writer_pid` recognises only the names it gives. Real files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from graytransfer.atomic import atomic_file, write_text_atomic, writer_pid


def test_a_failed_write_keeps_the_target_and_removes_only_its_own_temporary_file(
    tmp_path: Path,
) -> None:
    """Catches a half-written target and a clean-up that removes more than its own file (a
    look-alike left by someone else, or the target)."""
    target = tmp_path / "a.json"
    target.write_text("old")
    look_alike = tmp_path / f".a.json.{os.getpid()}.zzzzzzzz.tmp"  # not created by the write
    look_alike.write_text("someone else's")
    with (
        pytest.raises(RuntimeError, match="disk gone"),
        atomic_file(target, "w", encoding="utf-8") as handle,
    ):
        handle.write("half")
        raise RuntimeError("disk gone")
    assert target.read_text() == "old" and look_alike.read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [look_alike.name, "a.json"]


def test_a_whole_write_replaces_the_target_and_fsyncs_when_durable(
    tmp_path: Path, monkeypatch
) -> None:
    synced: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: synced.append(fd) or real(fd))
    write_text_atomic(tmp_path / "a.txt", "new")
    assert (tmp_path / "a.txt").read_text() == "new" and not synced
    with atomic_file(tmp_path / "b.bin", durable=True) as handle:
        handle.write(b"data")
    assert (tmp_path / "b.bin").read_bytes() == b"data" and len(synced) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_writer_pid_names_the_writer_of_its_own_temporary_files_only(tmp_path: Path) -> None:
    with atomic_file(tmp_path / "last.ckpt", suffix=".partial"):
        (temporary,) = tmp_path.iterdir()  # the file being written
        assert writer_pid(temporary, ".partial") == os.getpid()
    assert writer_pid(temporary, ".tmp") is None  # another suffix: not that kind of file
    for name in (".notes.partial", "last.ckpt.123.abc.partial", ".last.ckpt.partial", "x.tmp"):
        assert writer_pid(tmp_path / name, ".partial") is None
