"""bench.peer: in quick mode (1,024 training images, 1 epoch of 32 steps at 32x32, lr 3e-3, seed
0, one torch thread a process) train.py and the plain loop really train on the same split and
learn well above chance: over 0.3 on 256 test images (chance 0.1 gets there with a probability
under 1e-18; both runners reach ~0.6); timm's train.py is replaced by
a stand-in script written here that parses the harness' command line with timm's argument
names, checks the ImageFolder it is pointed at and writes a summary.csv: that checks the
harness' plumbing (command, folders, reading the result), not timm itself. The split folder is
prepared once and shared (bench.peer_data.prepare reuses it). No timing is asserted."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from bench import peer
from bench.peer_data import class_folder, read_split

#: timm's train.py arguments the harness passes, parsed the way timm's parser does
STAND_IN = textwrap.dedent(
    """
    import argparse, csv, json, pathlib
    p = argparse.ArgumentParser()
    for flag in ("--data-dir", "--train-split", "--val-split", "--model", "--pretrained-path",
                 "--input-img-mode", "--opt", "--sched", "--output", "--experiment", "--device"):
        p.add_argument(flag)
    for flag in ("--in-chans", "--num-classes", "--warmup-epochs", "--batch-size", "--epochs",
                 "--workers", "--seed", "--log-interval", "--checkpoint-hist"):
        p.add_argument(flag, type=int)
    for flag in ("--crop-pct", "--lr", "--weight-decay", "--min-lr", "--drop", "--smoothing"):
        p.add_argument(flag, type=float)
    p.add_argument("--input-size", type=int, nargs=3)
    p.add_argument("--mean", type=float, nargs="+")
    p.add_argument("--std", type=float, nargs="+")
    for flag in ("--pretrained", "--no-aug", "--sched-on-updates", "--no-prefetcher"):
        p.add_argument(flag, action="store_true")
    a = p.parse_args()
    root = pathlib.Path(a.data_dir)
    counts = {s: len(list((root / s).glob("*/*.png"))) for s in (a.train_split, a.val_split)}
    out = pathlib.Path(a.output) / a.experiment
    out.mkdir(parents=True)
    (out / "args.json").write_text(json.dumps({**vars(a), "counts": counts}))
    with open(out / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["epoch", "train_loss", "eval_loss", "eval_top1", "eval_top5", "lr"])
        for epoch in range(a.epochs):
            w.writerow([epoch, 1.0, 1.0, 10.0 * (epoch + 1), 90.0, a.lr])
    """
)


def fashion_mnist_missing() -> list[str]:
    """The Fashion-MNIST files `bench.peer --quick` reads (optional data: Debian's
    dataset-fashion-mnist, or torchvision's copy in paths.data_dir) that are nowhere to be found,
    looked for where the harness' own data module looks (`data.download=false`)."""
    from graytransfer.config import compose
    from graytransfer.data import FashionMnistDataModule

    data_dir = compose(["data=fashion_mnist"]).paths.data_dir
    module = FashionMnistDataModule(data_dir=str(data_dir), download=False)
    folders = module.search_dirs()
    return [
        name
        for pair in module.file_names().values()
        for name in pair
        if not any((f / n).is_file() for f in folders for n in (name, f"{name}.gz"))
    ]


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The harness' shared work folder; the tests that train on Fashion-MNIST (optional data)
    take it, so they skip, saying why, where the data is absent."""
    missing = fashion_mnist_missing()
    if missing:
        pytest.skip(
            f"needs Fashion-MNIST ({', '.join(missing)} not found): apt-get install "
            "dataset-fashion-mnist, or place torchvision's FashionMNIST/raw in paths.data_dir"
        )
    return tmp_path_factory.mktemp("peer")


@pytest.mark.slow
def test_train_py_and_plain_loop_learn_on_the_same_split(work, tmp_path, capsys) -> None:
    out = tmp_path / "peer.json"
    peer.main(["--quick", "--seed", "0", "--runners", "train.py,plain loop", "--work", str(work),
               "--out", str(out)])  # fmt: skip
    written = json.loads(out.read_text())
    rows = {row["runner"]: row for row in written["rows"]}
    assert set(rows) == {"train.py", "plain loop"}
    assert written["settings"]["sizes"] == peer.QUICK
    expected = {"train": 1024, "val": 64, "test": 256}
    assert written["settings"]["split_counts"] == expected
    for run in written["settings"]["runs"]:
        assert run["split_counts"] == expected and run["same_split"] is True
        assert run["test_acc"] > 0.3, run  # chance is 0.1; both reach ~0.6
        assert run["wall_s"] > run["train_s"] > 0
    assert rows["plain loop"]["ratio_to_plain"] == 1.0
    assert rows["train.py"]["tested"].startswith("best checkpoint")
    assert written["settings"]["differences"] == peer.DIFFERENCES
    assert len(written["machine"]["load_average_1_5_15"]) == 3
    assert "| plain loop |" in capsys.readouterr().out
    # the exported PNGs are the split's pixels, in class folders timm and graytransfer both sort
    split = read_split(work / "split.npz")
    classes = list(split["classes"])
    assert sorted(p.name for p in (work / "images/validation").iterdir()) == [
        class_folder(i, name) for i, name in enumerate(classes)
    ]
    from PIL import Image

    label = int(split["test_y"][0])
    first = work / "images/validation" / class_folder(label, classes[label]) / "00000.png"
    assert np.array_equal(np.asarray(Image.open(first)), split["test_x"][0])


def stand_in_args(argv: list[str]) -> dict:
    """Run the stand-in's parser on a harness command line (without python and the script)."""
    namespace: dict = {}
    code = STAND_IN.split("a = p.parse_args()")[0]
    exec(code, namespace)  # noqa: S102 - the test's own parser text
    return vars(namespace["p"].parse_args(argv))


def test_timm_command_line_carries_the_shared_recipe(tmp_path) -> None:
    args = argparse.Namespace(seed=3, workers=1)
    sizes = peer.FULL  # the real runs' recipe
    argv = peer.timm_command(Path("/x/train.py"), args, sizes, tmp_path, tmp_path / "o", "c_0")
    assert argv[:2] == [sys.executable, "/x/train.py"]
    got = stand_in_args(argv[2:])
    assert got["data_dir"] == str(tmp_path / "images")
    assert (got["train_split"], got["val_split"]) == ("train", "validation")
    assert got["model"] == "tf_efficientnet_lite0" and got["pretrained"] is True
    assert got["pretrained_path"] == str(tmp_path / "lite0_in1k.pth")
    assert (got["in_chans"], got["num_classes"], got["input_size"]) == (1, 10, [1, 32, 32])
    assert (got["mean"], got["std"], got["crop_pct"]) == ([0.5], [0.5], 1.0)
    assert got["no_aug"] and got["smoothing"] == 0.0 and got["input_img_mode"] == "L"
    assert (got["opt"], got["lr"], got["weight_decay"], got["drop"]) == ("adamw", 1e-3, 0.01, 0.2)
    assert (got["sched"], got["sched_on_updates"], got["min_lr"]) == ("cosine", True, 1e-5)
    assert (got["batch_size"], got["epochs"], got["workers"], got["seed"]) == (64, 2, 1, 3)
    assert got["device"] == "cpu" and got["no_prefetcher"]
    assert (got["output"], got["experiment"]) == (str(tmp_path / "o"), "c_0")


@pytest.mark.slow
def test_timm_runner_plumbing_through_a_stand_in_script(work, tmp_path) -> None:
    script = tmp_path / "train.py"
    script.write_text(STAND_IN)
    out = tmp_path / "peer.json"
    # 2 epochs (quick mode's 1 would make the last summary row the first one too)
    peer.main(["--quick", "--epochs", "2", "--runners", "timm train.py", "--timm-train",
               str(script), "--work", str(work), "--out", str(out), "--reps", "2"])  # fmt: skip
    written = json.loads(out.read_text())
    (row,) = written["rows"]
    assert row["runner"] == "timm train.py" and row["reps"] == 2
    assert row["test_acc"] == pytest.approx(0.2)  # the last epoch's eval_top1, 20.0 %
    assert row["train_s"] is None and row["same_split"] is True
    assert written["settings"]["timm_train"]["path"] == str(script)
    for run in written["settings"]["runs"]:
        seen = json.loads((work / "runs" / f"timm_train_py_rep{run['rep']}/args.json").read_text())
        assert seen["counts"] == {"train": 1024, "validation": 256}  # validation = the test set
        assert seen["batch_size"] == 32 and seen["lr"] == 3e-3  # quick mode's recipe
        assert run["split_counts"] == {"train": 1024, "test": 256}


def test_runs_are_interleaved_with_the_order_rotated() -> None:
    order = peer.interleaved(["a", "b", "c"], 3)
    assert order == [
        (0, "a"), (0, "b"), (0, "c"),
        (1, "b"), (1, "c"), (1, "a"),
        (2, "c"), (2, "a"), (2, "b"),
    ]  # fmt: skip


def test_missing_timm_script_is_one_line(tmp_path) -> None:
    from graytransfer.errors import UserError

    with pytest.raises(UserError, match="--timm-train: '.*nope.py' is not a file"):
        peer.main(["--timm-train", str(tmp_path / "nope.py"), "--work", str(tmp_path)])
