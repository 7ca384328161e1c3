"""compare: two checkpoints (or an ensemble) on A's test images: A, B, B - A with its paired
interval and DeLong's tests, printed and written to compare.json; B of another image size is
refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers.checkpoint_files import write_checkpoint
from helpers.trained_fixture import compose_task

from graytransfer.errors import UserError
from graytransfer.run.checkpoints import load_model
from graytransfer.tools import evaluate as evaluate_tool
from graytransfer.tools.compare import compare, score


def run_compare(out: Path, a, b, *overrides: str) -> dict:
    listed = lambda x: f"[{','.join(map(str, x))}]" if isinstance(x, list) else str(x)  # noqa: E731
    cfg = compose_task(
        "compare", [f"a={listed(a)}", f"b={listed(b)}", "eval.bootstrap=200", *overrides], out
    )
    return compare(cfg)


def test_compare_writes_a_b_and_the_paired_difference(tmp_path: Path, capsys) -> None:
    a = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    b = write_checkpoint(tmp_path / "b" / "b.ckpt", 2)
    c = write_checkpoint(tmp_path / "c" / "c.ckpt", 3)
    result = run_compare(tmp_path / "out", a, [b, c])
    assert json.loads((tmp_path / "out" / "compare.json").read_text())["metrics"].keys() == {
        "acc",
        "balanced_acc",
        "f1",
        "auroc",
        "ap",
    }
    # the values are those of each model scored alone on A's test split
    trained_a, ensemble = load_model(a), load_model([b, c])
    data = evaluate_tool.test_data(
        compose_task("evaluate", [f"ckpt_path={a}"], tmp_path / "e"), trained_a
    )
    alone_a, alone_b = score(trained_a, data, 64, "cpu"), score(ensemble, data, 64, "cpu")
    acc = result["metrics"]["acc"]
    assert acc["a"] == pytest.approx(float(np.mean(alone_a.decisions == alone_a.labels)))
    assert acc["b"] == pytest.approx(float(np.mean(alone_b.decisions == alone_b.labels)))
    assert acc["diff"] == pytest.approx(acc["b"] - acc["a"])
    assert acc["diff_ci"][0] <= acc["diff_ci"][1] and result["images"] == len(data.test_set)
    assert set(result["delong"]) == {f"auroc_ovr/{k}" for k in range(10)}
    assert result["b"]["ensemble"]["members"] == [str(b), str(c)]
    printed = capsys.readouterr().out
    assert "B - A" in printed and "DeLong auroc_ovr/0" in printed and "compare.json" in printed

    same = run_compare(tmp_path / "same", a, a)
    assert same["metrics"]["auroc"]["diff"] == 0 and same["metrics"]["auroc"]["diff_ci"] == [0, 0]


def test_b_of_another_image_size_is_refused_in_one_line(tmp_path: Path) -> None:
    a = write_checkpoint(tmp_path / "a" / "a.ckpt", 1)
    b = write_checkpoint(tmp_path / "b" / "b.ckpt", 2, "data.image_size=24")
    with pytest.raises(UserError) as caught:
        run_compare(tmp_path / "out", a, b)
    message = str(caught.value)
    assert message.startswith("b: ") and "differ in image size" in message and "\n" not in message
    assert not (tmp_path / "out" / "compare.json").exists()
