"""Every callback of conf/callbacks/ works with every task, or refuses it in one line first.

One tiny real run per task (timm's untrained test EfficientNet at 16x16, one batch of each
stage) with every callback on at once: the callbacks are listed from conf/callbacks/ itself, so
a new callback joins this test by existing. A callback that cannot support a task (activation
maps for multilabel: no single class per image) must refuse before any training step.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from helpers.configs import CONF, TEST_NET, compose_config
from helpers.task_data import TASKS, task_overrides

from graytransfer.errors import UserError
from graytransfer.run import train

#: a choice of conf/callbacks/ that is a set of callbacks, not one callback
NOT_ONE_CALLBACK = ("default", "none")
#: callback -> the tasks it refuses (in one line, before any work)
REFUSES = {"activation_maps": ("multilabel",)}

RUN = [
    *TEST_NET,
    "data.batch_size=16",
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.limit_test_batches=1",
    "trainer.enable_progress_bar=true",
    "logger=csv",
    "seed=0",
]


def every_callback() -> list[str]:
    """Each single-callback choice of conf/callbacks/."""
    found = sorted(p.stem for p in (CONF / "callbacks").glob("*.yaml"))
    return [name for name in found if name not in NOT_ONE_CALLBACK]


def callbacks_for(task: str) -> list[str]:
    return [c for c in every_callback() if task not in REFUSES.get(c, ())]


def read_row_lists(path: Path) -> list[list[str]]:
    with path.open(newline="") as handle:
        return list(csv.reader(handle))


@pytest.mark.parametrize("task", TASKS)
def test_every_callback_runs_with_every_task(task: str, tmp_path: Path) -> None:
    names = callbacks_for(task)
    overrides = [*RUN, *task_overrides(task, tmp_path / "data"), f"callbacks=[{','.join(names)}]"]
    run_dir = tmp_path / "run"
    info = train(compose_config(overrides, run_dir))
    assert info["status"] == "ok" and (run_dir / "metrics.json").is_file()
    matrix = read_row_lists(run_dir / "confusion_matrix.csv")
    if task == "binary":  # one 2x2 matrix of the two classes, every test image counted once
        assert matrix[0] == ["true\\predicted", "normal", "pneumonia"]
        assert [row[0] for row in matrix[1:]] == ["normal", "pneumonia"]
    elif task == "multilabel":
        assert matrix[0] == ["label", "tn", "fp", "fn", "tp"] and len(matrix) == 11
    else:
        assert len(matrix) == 11 and len(matrix[0]) == 11
    assert (run_dir / "confusion_matrix.png").stat().st_size > 0
    assert (run_dir / "preview" / "start.png").stat().st_size > 0
    assert (run_dir / "checkpoints" / "best.ckpt").is_file()
    if "activation_maps" in names:
        assert (run_dir / "activation_maps" / "grid.png").stat().st_size > 0


def test_binary_confusion_matrix_counts_each_test_image_once(tmp_path: Path) -> None:
    overrides = [*RUN, *task_overrides("binary", tmp_path / "data")]
    overrides += ["callbacks=[confusion_matrix]", "trainer.limit_test_batches=null"]
    run_dir = tmp_path / "run"
    info = train(compose_config(overrides, run_dir))
    counts = [
        int(v) for row in read_row_lists(run_dir / "confusion_matrix.csv")[1:] for v in row[1:]
    ]
    test_images = sum(1 for row in read_row_lists(run_dir / "split.csv") if "test" in row)
    assert len(counts) == 4 and sum(counts) == test_images > 0
    assert info["metrics"]["test/acc"] == pytest.approx((counts[0] + counts[3]) / test_images)


@pytest.mark.parametrize(
    ("callback", "task"), [(c, t) for c, tasks in REFUSES.items() for t in tasks]
)
def test_a_callback_refuses_a_task_it_cannot_serve_in_one_line(
    callback: str, task: str, tmp_path: Path
) -> None:
    overrides = [*RUN, *task_overrides(task, tmp_path / "data"), f"callbacks=[{callback}]"]
    run_dir = tmp_path / "run"
    with pytest.raises(UserError, match=f"callbacks.{callback}: .* task={task}") as info:
        train(compose_config(overrides, run_dir))
    assert "\n" not in str(info.value)
    assert not (run_dir / "checkpoints").exists()  # refused before any training step
