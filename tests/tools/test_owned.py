"""graytransfer.tools.owned: a tool replaces only what a tool of this project wrote."""

from __future__ import annotations

from pathlib import Path

import pytest

from graytransfer.errors import UserError
from graytransfer.tools.owned import check_own_file, check_own_folder

HEADER = "path,label,prob_"


def check(path: Path) -> None:
    check_own_file(path, HEADER, "output", "a predictions CSV", "predictions.csv")


def test_a_new_path_and_an_earlier_output_are_free(tmp_path: Path) -> None:
    check(tmp_path / "new.csv")
    earlier = tmp_path / "earlier.csv"
    earlier.write_text("path,label,prob_a,prob_b\nx.png,a,0.9,0.1\n")
    check(earlier)


@pytest.mark.parametrize(
    "content",
    [b"patient,comment\n", b"", b"\x89PNG\r\n\x1a\n\x00\x00", b"  path,label,prob_a\n"],
    ids=["other-csv", "empty", "binary", "indented"],
)
def test_any_other_file_is_refused_and_kept(tmp_path: Path, content: bytes) -> None:
    users = tmp_path / "users.csv"
    users.write_bytes(content)
    with pytest.raises(UserError, match="output: .*users.csv' exists and is not a predictions CSV"):
        check(users)
    assert users.read_bytes() == content


def test_a_dangling_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link.csv"
    link.symlink_to(tmp_path / "nowhere.csv")
    with pytest.raises(UserError, match="exists and is not a predictions CSV"):
        check(link)


def test_folders(tmp_path: Path) -> None:
    def check_folder(folder: Path) -> None:
        check_own_folder(folder, "maps.csv", "path,file", "output", "an earlier explain output")

    check_folder(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    check_folder(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "maps.csv").write_text("path,file,target\n")
    (earlier / "0000_a.png").write_bytes(b"png")
    check_folder(earlier)
    users = tmp_path / "users"
    users.mkdir()
    for name in ("a.png", "b.png", "c.png", "d.txt", "maps.csv"):
        (users / name).write_text("the user's\n")
    with pytest.raises(UserError, match=r"holds files \(a.png, b.png, c.png and 2 more\)") as err:
        check_folder(users)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_folder(users / "a.png")
    with pytest.raises(UserError, match="is a folder: give a file path, e.g. output=.*predictions"):
        check(users)
