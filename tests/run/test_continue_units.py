"""Fast twin of the slow continue run (run/test_continue.py): the shared finished tiny run
(helpers.trained_fixture, copied so nothing here can touch it) trains one epoch more in a new
run folder that records its parent; the parent stays as it was, and a continuation gets a new
W&B run, not the parent's."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from helpers.configs import compose_config
from helpers.errors import user_message
from helpers.trained_fixture import BEST_IS_NOT_LAST, TINY, trained_run  # noqa: F401 - fixture

from graytransfer.run import RunFolder, plan_resume, train

#: the shared run's own config (2 epochs of 3 batches), without a logger
RUN = [*TINY, *BEST_IS_NOT_LAST, "logger=none"]


def file_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def test_a_finished_run_trains_on_in_a_new_folder_that_records_its_parent(
    trained_run,  # noqa: F811
    tmp_path: Path,
) -> None:
    parent_dir, child_dir = tmp_path / "parent", tmp_path / "child"
    shutil.copytree(trained_run[0], parent_dir)
    run_file = parent_dir / RunFolder.RUN_FILE
    run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "wandb_id": "parent01"}))
    last = parent_dir / "checkpoints" / RunFolder.LAST
    parent_step = torch.load(last, map_location="cpu", weights_only=True)["global_step"]
    assert parent_step == 6  # 2 epochs of 3 batches
    before = file_stamps(parent_dir)

    same = compose_config([*RUN, f"ckpt_path={last}"], tmp_path / "same")
    assert user_message(lambda: train(same)) == (
        f"trainer.max_epochs=2: the run in '{parent_dir}' already trained 2 epochs; set "
        "trainer.max_epochs above 2 to continue it"
    )
    one_more = ["trainer.max_epochs=3", "trainer.limit_train_batches=1", "eval.bootstrap=0",
                "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]  # fmt: skip
    cfg = compose_config([*RUN, f"ckpt_path={last}", *one_more], child_dir)
    assert plan_resume(cfg).wandb_id is None  # a new W&B run, never the parent's
    child = train(cfg)
    expected = {"run_dir": str(parent_dir), "checkpoint": str(last), "epochs": 2,
                "wandb_id": "parent01"}  # fmt: skip
    assert child["epochs"] == 3 and child["status"] == "ok"
    child_last = child_dir / "checkpoints" / RunFolder.LAST
    assert torch.load(child_last, map_location="cpu", weights_only=True)["global_step"] == 7
    assert json.loads((child_dir / "metrics.json").read_text())["parent"] == expected
    assert json.loads((child_dir / RunFolder.RUN_FILE).read_text())["parent"] == expected
    assert file_stamps(parent_dir) == before
    assert Path(child["best_checkpoint"]).parent == child_dir / "checkpoints"
