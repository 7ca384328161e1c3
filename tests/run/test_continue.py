"""A finished run trains on for more epochs in a new run folder that records its parent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from helpers.configs import TEST_NET, compose_config
from helpers.errors import user_message
from helpers.wandb_records import logged_config, offline_log

from graytransfer.run import RunFolder, train

#: timm's test EfficientNet at 16x16 on the digits, 3 batches an epoch, 2 epochs, W&B offline
TINY = [
    *TEST_NET,
    "data.batch_size=32",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=false",
    "callbacks=[model_checkpoint,nan_guard]",
    "logger=wandb",
    "extras.print_config=false",
    "seed=3",
]


def file_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and mtime of every file, but W&B's debug logs (its service process appends to them
    after the run has ended, for any later run of the process)."""
    files = [p for p in folder.rglob("*") if not p.name.startswith("debug")]
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


@pytest.mark.slow
def test_a_finished_run_continues_in_a_new_folder_that_records_its_parent(tmp_path: Path) -> None:
    parent_dir, child_dir = tmp_path / "parent", tmp_path / "child"
    parent = train(compose_config(TINY, parent_dir))
    assert parent["epochs"] == 2
    before = file_stamps(parent_dir)
    last = parent_dir / "checkpoints" / RunFolder.LAST
    parent_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert parent_step == 6  # 2 epochs of 3 batches

    # as many epochs as the parent trained: nothing to continue, refused before any work
    same = compose_config([*TINY, f"ckpt_path={last}"], tmp_path / "same")
    assert user_message(lambda: train(same)) == (
        f"trainer.max_epochs=2: the run in '{parent_dir}' already trained 2 epochs; set "
        "trainer.max_epochs above 2 to continue it"
    )

    child = train(compose_config([*TINY, f"ckpt_path={last}", "trainer.max_epochs=3"], child_dir))
    parent_wandb_id = json.loads((parent_dir / RunFolder.RUN_FILE).read_text())["wandb_id"]
    expected = {
        "run_dir": str(parent_dir),
        "checkpoint": str(last),
        "epochs": 2,
        "wandb_id": parent_wandb_id,
    }
    # the epochs go on from the checkpoint's: one more epoch of 3 batches
    assert child["epochs"] == 3 and child["status"] == "ok"
    child_last = torch.load(
        child_dir / "checkpoints" / RunFolder.LAST, map_location="cpu", weights_only=True
    )
    assert child_last["global_step"] == parent_step + 3
    # the parent is recorded in the record, the run file and the W&B config of a NEW W&B run
    assert json.loads((child_dir / "metrics.json").read_text())["parent"] == expected
    child_run = json.loads((child_dir / RunFolder.RUN_FILE).read_text())
    assert child_run["parent"] == expected and child_run["wandb_id"] != parent_wandb_id
    assert logged_config(offline_log(child_dir / "wandb"))["parent"] == expected
    # the finished run is untouched, and the best checkpoint the child tested is its own
    assert file_stamps(parent_dir) == before
    assert Path(child["best_checkpoint"]).parent == child_dir / "checkpoints"
