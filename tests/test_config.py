"""graytransfer.config: the one compose() and the one way to find conf/."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.configs import CONF
from hydra.errors import MissingConfigException

from graytransfer.config import CONF_ENV, check_missing, compose, conf_dir
from graytransfer.errors import UserError


def test_compose_is_train_yaml_with_overrides(tmp_path: Path) -> None:
    cfg = compose(["adapt=sum", "model=b0", "seed=7"], output_dir=tmp_path / "run")
    assert cfg.adapt._target_ == "graytransfer.adapt.Sum"
    assert cfg.model.name == "tf_efficientnet_b0" and cfg.seed == 7
    assert cfg.paths.output_dir == str(tmp_path / "run")
    assert cfg.paths.log_dir == str(tmp_path / "run" / "logs")


def test_compose_other_entry_points() -> None:
    cfg = compose(["ckpt_path=/x.ckpt"], config_name="evaluate")
    assert cfg.task_name == "eval" and cfg.ckpt_path == "/x.ckpt"


def test_hydra_errors_propagate_unchanged() -> None:
    with pytest.raises(MissingConfigException, match="model/b99"):
        compose(["model=b99"])


def test_conf_dir_is_the_checkouts_by_default(monkeypatch) -> None:
    monkeypatch.delenv(CONF_ENV, raising=False)
    assert conf_dir() == CONF.resolve() and (conf_dir() / "train.yaml").is_file()


def test_env_variable_points_at_another_tree(tmp_path: Path, monkeypatch) -> None:
    other = tmp_path / "conf"
    shutil.copytree(CONF, other)
    (other / "train.yaml").write_text(
        (other / "train.yaml").read_text().replace("label_smoothing: 0.0", "label_smoothing: 0.3")
    )
    monkeypatch.setenv(CONF_ENV, str(other))
    assert conf_dir() == other.resolve()
    assert compose().label_smoothing == 0.3


def test_a_missing_tree_is_one_line_saying_what_to_do(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(CONF_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(UserError) as info:
        conf_dir()
    message = str(info.value)
    assert "\n" not in message and "nowhere" in message
    assert "pip install -e ." in message and CONF_ENV in message


def copied_tree(tmp_path: Path, monkeypatch) -> Path:
    """A copy of conf/ without any local/ settings of this checkout, made the one composed."""
    other = tmp_path / "conf"
    shutil.copytree(CONF, other)
    for mine in (other / "local").glob("*.yaml"):
        mine.unlink()
    monkeypatch.setenv(CONF_ENV, str(other))
    return other


def test_local_settings_apply_when_present_and_are_optional(tmp_path: Path, monkeypatch) -> None:
    other = copied_tree(tmp_path, monkeypatch)
    assert compose().trainer.max_epochs == 10  # no conf/local/default.yaml: nothing changes
    (other / "local" / "default.yaml").write_text(
        "# @package _global_\ntrainer:\n  max_epochs: 3\ntags: [workstation]\n"
    )
    (other / "local" / "cluster.yaml").write_text("# @package _global_\ntrainer:\n  devices: 4\n")
    cfg = compose()
    assert cfg.trainer.max_epochs == 3 and list(cfg.tags) == ["workstation"]
    assert compose(["trainer.max_epochs=5"]).trainer.max_epochs == 5  # the command line wins
    assert compose(["local=cluster"]).trainer.devices == 4


def test_local_settings_are_ignored_by_git_but_the_readme_is_not() -> None:
    def ignored(path: str) -> bool:
        found = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=CONF.parent, capture_output=True
        )
        return found.returncode == 0

    assert ignored("conf/local/default.yaml") and ignored("conf/local/cluster.yaml")
    assert not ignored("conf/local/README.md") and not ignored("conf/train.yaml")


def test_check_missing_names_the_first_value_left_at_question_marks() -> None:
    with pytest.raises(UserError) as info:
        check_missing(compose(["data=folder"]))
    assert str(info.value) == (
        "data.root is required: pass data.root=DIR, a folder with one sub-folder of images "
        "per class"
    )
    with pytest.raises(UserError, match=r"^model.name is required: pass model.name=VALUE$"):
        check_missing(compose(["model=timm"]))
    check_missing(compose())  # the defaults need nothing
