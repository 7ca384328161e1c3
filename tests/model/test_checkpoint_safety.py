"""A checkpoint is data: it never decides which code runs, and a file that is not a checkpoint
is named as such.

Each crafted checkpoint below is a real checkpoint of a tiny training run, rewritten on disk so
that building it would leave a trace (a file or folder that appears); the tests check that the
trace never appears and that the one-line error names the file, the key and the value.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers.configs import REPO
from helpers.trained_fixture import trained_run  # noqa: F401 - the session fixture
from omegaconf import OmegaConf

from graytransfer.errors import UserError
from graytransfer.model.checkpoint_file import read_checkpoint
from graytransfer.model.restore import load_trained
from graytransfer.model.stored_config import allowed_targets
from graytransfer.model.weights import load_state_file

NOT_OURS = "it was not written by graytransfer or was tampered with"
NOT_A_CHECKPOINT = "is not a checkpoint (truncated or not a torch file)"


class PickledThing:
    """Any class: unpickling it means importing and running code the file names."""

    def __init__(self) -> None:
        self.payload = "anything"


def touch(marker: Path) -> dict[str, Any]:
    """A Hydra config that creates `marker` when instantiated: Path(marker).touch()."""
    return {
        "_target_": "pathlib.Path.touch",
        "_args_": [{"_target_": "pathlib.Path", "_args_": [str(marker)]}],
    }


def set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for key in parents:
        config = config[key]
    config[last] = value


def crafted(source: Path, target: Path, edits: dict[str, Any]) -> Path:
    """`source` with `hyper_parameters.config` keys replaced, saved with torch.save to `target`;
    it still loads with `torch.load(weights_only=True)`."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=True)
    checkpoint = copy.deepcopy(checkpoint)
    for dotted, value in edits.items():
        set_key(checkpoint["hyper_parameters"]["config"], dotted, value)
    torch.save(checkpoint, target)
    torch.load(target, map_location="cpu", weights_only=True)  # loads fine: only data in it
    return target


def best_of(run: tuple[Path, dict[str, Any]]) -> Path:
    return run[0] / "checkpoints" / "best.ckpt"


def refusal(run: Callable[[], object]) -> str:
    with pytest.raises(UserError) as info:
        run()
    message = str(info.value)
    assert "\n" not in message
    return message


#: (edits to the stored config, key path named, target named); each edit would leave `marker`
TAMPERED = {
    "head": (
        lambda m: {"head": {**touch(m), "_partial_": False}},
        "head._target_",
        "pathlib.Path.touch",
    ),
    "nested": (lambda m: {"head.pool": touch(m)}, "head.pool._target_", "pathlib.Path.touch"),
    "args": (
        lambda m: {"adapt._args_": [touch(m)]},
        "adapt._args_[0]._target_",
        "pathlib.Path.touch",
    ),
    # a target the conf tree names, but for another group: a W&B logger (it makes its save_dir)
    "misplaced": (
        lambda m: {
            "adapt": {"_target_": "graytransfer.run.loggers.wandb_logger", "save_dir": str(m)}
        },
        "adapt._target_",
        "graytransfer.run.loggers.wandb_logger",
    ),
}


@pytest.mark.parametrize("case", sorted(TAMPERED))
def test_tampered_target_is_refused_before_anything_runs(
    trained_run,  # noqa: F811
    tmp_path: Path,
    case: str,
) -> None:
    make_edits, where, target = TAMPERED[case]
    marker = tmp_path / "marker"
    path = crafted(best_of(trained_run), tmp_path / f"{case}.ckpt", make_edits(marker))
    message = refusal(lambda: load_trained(path))
    assert not marker.exists(), f"the checkpoint ran {target}"
    assert str(path) in message and f"{where}='{target}'" in message and NOT_OURS in message


@pytest.mark.parametrize("value", ["${gt_test_marker:}", "${oc.env:HOME}"])
def test_interpolation_in_a_stored_config_calls_no_resolver(
    trained_run,  # noqa: F811
    tmp_path: Path,
    value: str,
) -> None:
    """A resolver another library registered (here one that leaves a marker) is never called."""
    marker = tmp_path / "resolved"
    OmegaConf.register_new_resolver("gt_test_marker", lambda: marker.touch() or "none")
    try:
        path = crafted(best_of(trained_run), tmp_path / "interp.ckpt", {"data.augment": value})
        message = refusal(lambda: load_trained(path))
    finally:
        OmegaConf.clear_resolver("gt_test_marker")
    assert not marker.exists()
    assert str(path) in message and f"data.augment='{value}'" in message and NOT_OURS in message


def test_checkpoint_of_the_conf_tree_still_loads(trained_run) -> None:  # noqa: F811
    trained = load_trained(best_of(trained_run))
    assert trained.model_name == "test_efficientnet" and trained.strategy == "repeat"
    assert "graytransfer.model.backbone.Backbone" in allowed_targets()["model"]
    assert "lightning.pytorch.Trainer" not in allowed_targets()["adapt"]


def run_python(args: list[str], root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRAYTRANSFER_ROOT": str(root), "WANDB_MODE": "offline"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, env=env, timeout=300, cwd=root
    )


@pytest.mark.slow
def test_evaluate_command_refuses_a_tampered_checkpoint(trained_run, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "marker"
    path = crafted(best_of(trained_run), tmp_path / "evil.ckpt", {"head.pool": touch(marker)})
    result = run_python(["-m", "graytransfer.tools.evaluate", f"ckpt_path={path}"], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"graytransfer: error: checkpoint '{path}'")
    assert "head.pool._target_='pathlib.Path.touch'" in lines[0]
    assert not marker.exists()


def unsafe_pickle(path: Path) -> Path:
    torch.save({"state_dict": {}, "x": PickledThing()}, path)
    return path


def random_bytes(path: Path) -> Path:
    path.write_bytes(os.urandom(4096))
    return path


def assert_no_unsafe_advice(message: str) -> None:
    assert "weights_only" not in message and "Re-running" not in message


def test_ckpt_path_with_pickled_code_says_so(tmp_path: Path) -> None:
    path = unsafe_pickle(tmp_path / "unsafe.ckpt")
    message = refusal(lambda: read_checkpoint(path))
    assert str(path) in message and "holds pickled code objects (class `" in message
    assert "PickledThing`)" in message and "written by graytransfer" in message
    assert "trust_checkpoint" not in message  # ckpt_path has no such switch
    assert_no_unsafe_advice(message)


def test_ckpt_path_that_is_no_torch_file_says_so(trained_run, tmp_path: Path) -> None:  # noqa: F811
    whole = best_of(trained_run).read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(whole[: len(whole) // 2])
    for path in (random_bytes(tmp_path / "random.ckpt"), truncated):
        message = refusal(lambda path=path: read_checkpoint(path))
        assert f"ckpt_path: '{path}' {NOT_A_CHECKPOINT}" in message
        assert "pickled" not in message and "trust_checkpoint" not in message
        assert_no_unsafe_advice(message)


def test_weights_file_with_pickled_code_points_to_the_trust_switch(tmp_path: Path) -> None:
    path = unsafe_pickle(tmp_path / "unsafe.pth")
    message = refusal(lambda: load_state_file(path))
    assert f"model.weights: '{path}' holds pickled code objects (class `" in message
    assert "PickledThing`)" in message and "model.trust_checkpoint=true" in message
    assert_no_unsafe_advice(message)


def test_weights_file_that_is_no_torch_file_says_so(trained_run, tmp_path: Path) -> None:  # noqa: F811
    whole = best_of(trained_run).read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(whole[: len(whole) // 3])
    for path in (random_bytes(tmp_path / "random.pth"), truncated):
        for trust in (False, True):
            message = refusal(lambda path=path, trust=trust: load_state_file(path, trust=trust))
            assert f"'{path}': it {NOT_A_CHECKPOINT}" in message
            assert "trust_checkpoint" not in message and "pickled" not in message
            assert_no_unsafe_advice(message)


@pytest.mark.slow
def test_train_command_with_a_pickled_code_checkpoint_is_one_line(tmp_path: Path) -> None:
    path = unsafe_pickle(tmp_path / "unsafe.ckpt")
    result = run_python([str(REPO / "train.py"), f"ckpt_path={path}", "logger=none"], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"graytransfer: error: ckpt_path: '{path}' holds pickled code")
    assert "PickledThing`)" in lines[0]
    assert_no_unsafe_advice(lines[0])
