"""The task group: the monitored metric follows the task (named once), stored checkpoints may
name only the conf tree's task targets, and data that does not fit the task is one line."""

from __future__ import annotations

import numpy as np
import pytest
from helpers.configs import compose_config
from helpers.datafiles import class_folders
from PIL import Image

from graytransfer.errors import UserError
from graytransfer.model.stored_config import allowed_targets, check_stored_config
from graytransfer.run import build_data


@pytest.mark.parametrize(
    ("overrides", "metric"),
    [
        ([], "val/acc"),
        (["task=multilabel"], "val/auroc"),
        (["task=binary"], "val/auroc"),
        (["task=multilabel", "monitor.metric=val/ap"], "val/ap"),
    ],
)
def test_the_monitor_is_the_tasks_unless_overridden(tmp_path, overrides, metric) -> None:
    cfg = compose_config(overrides, tmp_path)
    assert cfg.monitor.metric == metric
    assert cfg.callbacks.model_checkpoint.monitor == metric  # one name, used everywhere


def test_stored_configs_may_name_only_the_task_targets_of_conf(tmp_path) -> None:
    assert {
        "graytransfer.task.MulticlassTask",
        "graytransfer.task.MultiLabelTask",
        "graytransfer.task.BinaryTask",
    } <= allowed_targets()["task"]
    config = {"model": {}, "task": {"_target_": "os.system", "command": "touch pwned"}}
    with pytest.raises(
        UserError, match=r"task._target_='os.system', which no config in conf/task/"
    ):
        check_stored_config(config, tmp_path / "x.ckpt")


@pytest.mark.parametrize(
    ("task", "classes", "message"),
    [
        ("multilabel", 3, r"^task=multilabel: data=folder gives one label per image; give a CSV"),
        ("binary", 3, r"^task=binary: data=folder has 3 classes \['c0', 'c1', 'c2'\], not 2"),
    ],
)
def test_data_that_does_not_fit_the_task_is_one_line(tmp_path, task, classes, message) -> None:
    root = class_folders(tmp_path / "images", {f"c{k}": 10 for k in range(classes)}, (16, 16))
    cfg = compose_config(
        [f"task={task}", "data=folder", f"data.root={root}", "data.num_workers=0"], tmp_path
    )
    with pytest.raises(UserError, match=message) as err:
        build_data(cfg, (16, 16))
    assert "\n" not in str(err.value)


def test_multilabel_csv_under_multiclass_and_a_label_never_in_training(tmp_path) -> None:
    rows = ["path,findings,split"]
    for i in range(12):
        Image.fromarray(np.full((8, 8), i * 20, np.uint8)).save(tmp_path / f"{i}.png")
        rows.append(f"{i}.png,{['a|b', 'b', 'a'][i % 3]},")
    rows.append("12.png,c,val")
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "12.png")
    table = tmp_path / "list.csv"
    table.write_text("\n".join(rows) + "\n")
    data = [
        "data=csv",
        f"data.csv={table}",
        "data.label_column=findings",
        "data.label_separator=|",
        "data.num_workers=0",
    ]
    with pytest.raises(UserError, match=r"data=csv gives 3 labels per image .*set task=multilabel"):
        build_data(compose_config(data, tmp_path), (16, 16))
    # the only image with label c is a val image: c is never positive in training
    cfg = compose_config([*data, "task=multilabel"], tmp_path)
    with pytest.raises(UserError, match=r"label\(s\) \['c'\] of data=csv are never positive"):
        build_data(cfg, (16, 16))
