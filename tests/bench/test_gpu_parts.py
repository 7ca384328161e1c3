"""Issue 28 (3)'s GPU parts of bench/run_gpu.sh, checked on a machine without a GPU.

Fast: the carried Fashion-MNIST pool round-trips through one .npz into the IDX files the data
module reads; the strategy plan holds every conf/adapt choice and random init, seed-major, and
each of its runs composes; the driver stops runs at its deadline and starts none it cannot
finish; the DDP part skips on one GPU in one line; the peer's GPU commands; every part's budget
with setup fits the 540 s plan and DRY=1 prints GPU commands (TINY=1: CPU ones).
Slow: TINY=1 runs each part for real on the CPU at 32 px, as small as it goes (strategies:
repeat and random init, 32 images; peer: train.py and the plain loop, 64 images; scaling_all:
B5 alone, in its own process; ddp: 1 and 2 gloo ranks, 32 images): the dry-run that says the
script works before a GPU is lent. Most of their time is the processes' imports."""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers.configs import REPO
from hydra.utils import instantiate

from bench import ddp_scaling, gpu_data, gpu_strategies, peer
from graytransfer.config import compose, conf_dir
from graytransfer.data import FashionMnistDataModule
from graytransfer.errors import UserError

SCRIPT = REPO / "bench" / "run_gpu.sh"
GPU_PARTS = ("strategies", "peer", "scaling_all", "ddp")


def run_script(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "OUT": str(tmp_path / "out"), "GRAYTRANSFER_ROOT": str(tmp_path), **env}
    return subprocess.run(["bash", str(SCRIPT)], cwd=REPO, env=full, capture_output=True,
                          text=True, timeout=900)  # fmt: skip


def dry_parts(stdout: str) -> dict[str, tuple[int, str]]:
    found = re.findall(r"^\[dry\] (\w+) \(timeout (\d+) s\): (.*)$", stdout, re.M)
    return {name: (int(seconds), command) for name, seconds, command in found}


# --- the carried data ---------------------------------------------------------------------------


def idx_source(folder: Path, per_class: int = 6, size: int = 4) -> dict[str, np.ndarray]:
    """A Fashion-MNIST-shaped source (10 classes) in IDX files: images whose first pixel is
    their index, so a moved or mislabelled image shows."""
    folder.mkdir(parents=True)
    arrays = {}
    for split, count in (("train", per_class * 10), ("test", 20)):
        labels = np.repeat(np.arange(10), count // 10)  # sorted: the first N are not stratified
        images = np.zeros((count, size, size), np.uint8)
        images[:, 0, 0] = np.arange(count)
        images[:, 1, 1] = labels * 10
        images_name, labels_name = gpu_data.FILES[split]
        gpu_data.write_idx(folder / images_name, images)
        gpu_data.write_idx(folder / labels_name, labels)
        arrays[split] = images
    return arrays


def test_the_pool_round_trips_into_the_files_the_data_module_reads(tmp_path):
    idx_source(tmp_path / "source")
    counts = gpu_data.pack(tmp_path / "pool.npz", tmp_path / "source", train=30, test=None)
    assert counts == {"train": 30, "test": 20}
    with np.load(tmp_path / "pool.npz") as pool:
        train_x, train_y = pool["train_x"], pool["train_y"]
    assert np.bincount(train_y).tolist() == [3] * 10  # stratified
    assert len(set(train_x[:, 0, 0].tolist())) == 30  # 30 distinct images
    assert (train_x[:, 1, 1] == train_y * 10).all()  # each with its own label
    gpu_data.unpack(tmp_path / "pool.npz", tmp_path / "data")
    module = FashionMnistDataModule(data_dir=str(tmp_path / "data"), download=False)
    assert module.search_dirs()[0] == tmp_path / "data" / "FashionMNIST" / "raw"
    arrays = module.load_arrays()
    assert np.array_equal(arrays["train"][0], train_x)
    assert np.array_equal(arrays["train"][1], train_y)
    assert len(arrays["test"][1]) == 20


def test_unpack_without_the_file_says_how_to_make_it(tmp_path):
    with pytest.raises(UserError, match="prepare_gpu.sh"):
        gpu_data.unpack(tmp_path / "missing.npz", tmp_path / "data")


# --- (a) every strategy -------------------------------------------------------------------------


def test_the_strategy_plan_is_every_adapt_choice_and_random_init_seed_major(tmp_path):
    names = gpu_strategies.strategies()
    adapts = sorted(p.stem for p in (conf_dir() / "adapt").glob("*.yaml"))
    assert names == [*adapts, "random"] and len(adapts) >= 11
    runs = gpu_strategies.plan(names, [0, 1, 2], tmp_path, ["paths.data_dir=/d"])
    assert len(runs) == 3 * len(names)
    assert [r["seed"] for r in runs] == [s for s in (0, 1, 2) for _ in names]  # seed-major
    folders = {r["folder"] for r in runs}
    assert len(folders) == len(runs)  # one folder each
    for run in runs[: len(names)]:
        overrides = run["command"][2:-1]  # train.py's arguments but hydra.run.dir
        cfg = compose(overrides)
        assert (cfg.data.image_size, cfg.trainer.accelerator) == (224, "gpu")
        assert cfg.trainer.precision == "bf16-mixed" and cfg.paths.data_dir == "/d"
        assert cfg.model.name == "tf_efficientnet_lite0"
        assert cfg.model.pretrained is (run["strategy"] != "random")
        if run["strategy"] != "random":
            assert cfg.adapt._target_.rsplit(".", 1)[1].lower() == run["strategy"]
    tiny = compose([*runs[0]["command"][2:-1], *gpu_strategies.TINY])
    assert (tiny.trainer.accelerator, tiny.data.image_size, tiny.data.train_subset) == (
        "cpu", 32, 32)  # fmt: skip
    with pytest.raises(UserError, match="--strategies"):
        gpu_strategies.plan(["repeat", "magic"], [0], tmp_path, [])


def fake_run(tmp_path: Path, name: str, code: str) -> dict:
    return {"strategy": name, "seed": 0, "folder": tmp_path / name,
            "command": [sys.executable, "-c", code]}  # fmt: skip


def test_runs_past_the_deadline_are_stopped_and_none_starts_that_cannot_finish(tmp_path):
    runs = [
        fake_run(tmp_path, "quick", "pass"),
        fake_run(tmp_path, "broken", "raise SystemExit(3)"),
        fake_run(tmp_path, "slow", "import time; time.sleep(120)"),
        fake_run(tmp_path, "late", "pass"),
    ]
    done = gpu_strategies.execute(runs, parallel=2, deadline_s=4, logs=tmp_path / "logs")
    outcome = {r["strategy"]: (r["status"], r["rc"]) for r in done}
    assert outcome["quick"] == ("ok", 0)
    assert outcome["broken"] == ("failed", 3)
    assert outcome["slow"][0] == "stopped at deadline" and done[2]["wall_s"] < 30
    # `late` started alongside `slow` once `quick` and `broken` ended (parallel 2): it finished
    assert outcome["late"] == ("ok", 0)
    # with one slot, `slow` holds it to the deadline: nothing after it starts
    runs = [fake_run(tmp_path, "slow", "import time; time.sleep(120)"),
            fake_run(tmp_path, "never", "pass")]  # fmt: skip
    done = gpu_strategies.execute(runs, parallel=1, deadline_s=2, logs=tmp_path / "logs")
    assert [r["status"] for r in done] == ["stopped at deadline", "not started"]


def test_summary_pairs_each_strategy_with_repeat_over_shared_seeds():
    runs = [
        {"strategy": "repeat", "seed": 0, "test_acc": 0.80, "fit_s": 10.0},
        {"strategy": "repeat", "seed": 1, "test_acc": 0.90, "fit_s": 12.0},
        {"strategy": "sum", "seed": 0, "test_acc": 0.85, "fit_s": 11.0},
        {"strategy": "sum", "seed": 2, "test_acc": 0.50, "fit_s": 11.0},  # no repeat seed 2
        {"strategy": "random", "seed": 0, "test_acc": None, "fit_s": None},  # failed
    ]
    rows = {r["strategy"]: r for r in gpu_strategies.summarise(runs, ["repeat", "sum", "random"])}
    assert rows["repeat"]["test_acc"] == pytest.approx(0.85) and rows["repeat"]["seeds"] == 2
    assert rows["repeat"]["minus_repeat"] is None
    assert rows["sum"]["minus_repeat"] == pytest.approx(0.05)  # seed 0 only
    assert rows["sum"]["test_acc"] == pytest.approx(0.675)
    assert rows["random"]["seeds"] == 0 and rows["random"]["test_acc"] is None


# --- (b) the peer at GPU speed ------------------------------------------------------------------


def gpu_peer_args() -> argparse.Namespace:
    gpu = {"device": "cuda", "image_size": 224, "precision": "bf16-mixed"}
    return argparse.Namespace(seed=0, workers=4, data_dir_override=["paths.data_dir=/d"], **gpu)


def timm_train_script() -> Path | None:
    """timm's train.py where prepare_gpu.sh put it, or TIMM_TRAIN; None when neither exists."""
    for path in (os.environ.get("TIMM_TRAIN"), REPO / "outputs/gpu_carry/timm/train.py"):
        if path and Path(path).is_file():
            return Path(path)
    return None


def test_the_peer_commands_run_on_the_gpu_at_224_in_bf16(tmp_path):
    args, sizes = gpu_peer_args(), {**peer.FULL, "train": 5000, "val": 500, "test": 2000}
    train = peer.train_py_command(args, sizes, tmp_path / "run")
    assert {"trainer=gpu", "trainer.precision=bf16-mixed", "data.image_size=224",
            "paths.data_dir=/d", "data.batch_size=64", "optim.lr=0.001"} <= set(train)  # fmt: skip
    cfg = compose(train[2:-1])
    assert (cfg.trainer.accelerator, cfg.data.train_subset, cfg.data.image_size) == (
        "gpu", 5000, 224)  # fmt: skip
    plain = " ".join(peer.plain_command(args, sizes, tmp_path, tmp_path / "p.json"))
    assert "--device cuda --precision bf16-mixed" in plain
    timm = peer.timm_command(Path("/t.py"), args, sizes, tmp_path, tmp_path / "o", "x")
    joined = " ".join(timm)
    assert "--input-size 1 224 224" in joined and "--device cuda" in joined
    assert "--amp --amp-dtype bfloat16" in joined
    assert "--batch-size 64" in joined and "--lr 0.001" in joined  # the real runs' recipe
    # the CPU defaults are what they were: no amp, 32 px, cpu
    cpu = argparse.Namespace(seed=0, workers=0)
    joined = " ".join(peer.timm_command(Path("/t.py"), cpu, sizes, tmp_path, tmp_path, "x"))
    assert "--input-size 1 32 32" in joined and "--device cpu" in joined and "--amp" not in joined
    script = timm_train_script()
    if script is not None:  # every flag passed is one timm's train.py defines
        text = script.read_text()
        flags = [a for a in timm if a.startswith("--")]
        assert [f for f in flags if f"'{f}'" not in text and f'"{f}"' not in text] == []


# --- (c) B0-B5 ----------------------------------------------------------------------------------


def test_b5_is_measured_at_its_native_456_px():
    backbone = instantiate(compose(["model=b5", "model.pretrained=false"]).model)
    assert backbone.native_size() == (456, 456)


# --- (d) DDP ------------------------------------------------------------------------------------


def test_ddp_counts_commands_and_a_one_line_skip_on_one_gpu(tmp_path, monkeypatch, capsys):
    assert ddp_scaling.device_counts(1) == [1]
    assert ddp_scaling.device_counts(2) == [1, 2]
    assert ddp_scaling.device_counts(6) == [1, 2, 4, 6]
    assert ddp_scaling.device_counts(8) == [1, 2, 4, 8]
    one = ddp_scaling.command("cuda", 1, ddp_scaling.GPU, tmp_path, [])
    four = ddp_scaling.command("cuda", 4, ddp_scaling.GPU, tmp_path, [])
    assert "trainer=gpu" in one and {"trainer=ddp", "trainer.devices=4"} <= set(four)
    cfg = compose(four[2:-1])
    assert (cfg.trainer.strategy, cfg.trainer.devices, cfg.data.image_size) == ("ddp", 4, 224)
    assert cfg.test is False and cfg.trainer.precision == "bf16-mixed"
    cpu = compose(ddp_scaling.command("cpu", 2, ddp_scaling.TINY, tmp_path, [])[2:-1])
    assert (cpu.trainer.accelerator, cpu.trainer.devices, cpu.data.image_size) == ("cpu", 2, 32)
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    out = tmp_path / "ddp.json"
    assert "skipped" in ddp_scaling.main(["--device", "cuda", "--out", str(out)])
    line = capsys.readouterr().out.strip()
    assert line == "[ddp] skipped: 1 GPU visible; DDP scaling needs 2 or more"
    assert json.loads(out.read_text())["skipped"] == line.removeprefix("[ddp] ")
    with pytest.raises(UserError, match="--devices: 4 asked, 1 GPUs visible"):
        ddp_scaling.main(["--device", "cuda", "--devices", "4", "--out", str(out)])


# --- the script ---------------------------------------------------------------------------------


@pytest.mark.parametrize("part", GPU_PARTS)
def test_each_gpu_part_with_setup_fits_one_call_and_prints_gpu_commands(tmp_path, part):
    carry = tmp_path / "carry"
    (carry / "timm").mkdir(parents=True)
    (carry / "fashion_mnist.npz").write_bytes(b"")
    done = run_script(tmp_path, DRY="1", PARTS=f"setup {part}", CARRY=str(carry))
    assert done.returncode == 0, done.stderr
    total = int(re.search(r"budget (\d+) s of the 540 s plan", done.stdout)[1])
    assert total <= 540 and "WARNING" not in done.stdout
    parts = dry_parts(done.stdout)
    assert list(parts) == ["setup", part]
    budget, command = parts[part]
    assert f"paths.data_dir={tmp_path}/outputs/gpu_data" in command or part in (
        "peer",
        "scaling_all",
    )
    expected = {
        "strategies": ["bench.gpu_strategies", f"--deadline-s {budget - 20}"],
        "peer": ["bench.peer", "--device cuda --image-size 224 --precision bf16-mixed",
                 "timm train.py unavailable", f"--data-dir {tmp_path}/outputs/gpu_data"],
        "scaling_all": ["bench.scaling --device cuda --models b0\\,b1\\,b2\\,b3\\,b4\\,b5"],
        "ddp": ["bench.ddp_scaling --device cuda"],
    }[part]  # fmt: skip
    for text in expected:
        assert text in command.replace("\\ ", " "), (text, command)
    assert "--tiny" not in command and "--device cpu" not in command
    assert not (tmp_path / "out").exists()
    tiny = dry_parts(run_script(tmp_path, DRY="1", TINY="1", PARTS=part, CARRY=str(carry)).stdout)
    assert "--device cpu" in tiny[part][1] or "--tiny" in tiny[part][1]
    assert "pip install" not in json.dumps(tiny)


def test_the_peer_part_takes_timm_train_py_when_it_was_carried(tmp_path):
    carry = tmp_path / "carry"
    (carry / "timm").mkdir(parents=True)
    (carry / "timm" / "train.py").write_text("")
    done = run_script(tmp_path, DRY="1", PARTS="peer", CARRY=str(carry))
    command = dry_parts(done.stdout)["peer"][1]
    assert f"--timm-train {carry}/timm/train.py" in command
    assert "unavailable" not in done.stdout and "--runners" not in command


# --- the CPU dry-runs (slow) --------------------------------------------------------------------


@pytest.fixture(scope="module")
def carry(tmp_path_factory) -> Path:
    """A carry folder as prepare_gpu.sh fills it, less the wheels: a small Fashion-MNIST pool
    (1,000 training and 300 test images of Debian's set) as the one .npz."""
    if not (gpu_data.DEBIAN_FASHION_MNIST / "train-labels-idx1-ubyte.gz").is_file():
        pytest.skip("needs Fashion-MNIST: apt-get install dataset-fashion-mnist")
    folder = tmp_path_factory.mktemp("carry")
    gpu_data.pack(folder / "fashion_mnist.npz", train=1000, test=300)
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("part", GPU_PARTS)
def test_each_gpu_part_runs_for_real_at_tiny_size_on_the_cpu(tmp_path, carry, part):
    done = run_script(tmp_path, TINY="1", PARTS=f"setup {part}", CARRY=str(carry))
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "out" / "run_gpu.log").read_text()
    assert "part setup: ok" in log and f"part {part}: ok" in log, log[-3000:]
    assert (tmp_path / "outputs/gpu_data/FashionMNIST/raw/train-images-idx3-ubyte").is_file()
    out = tmp_path / "out"
    if part == "strategies":
        record = json.loads((out / "strategies_gpu.json").read_text())
        runs = record["settings"]["runs"]
        assert [(r["strategy"], r["status"]) for r in runs] == [("repeat", "ok"), ("random", "ok")]
        assert all(0 <= r["test_acc"] <= 1 for r in runs)
        assert all("paths.data_dir=" in " ".join(r["command"]) for r in runs)
        assert (out / "strategies_gpu.tar.gz").is_file()
    elif part == "peer":
        record = json.loads((out / "peer_gpu.json").read_text())
        assert [r["runner"] for r in record["rows"]] == ["train.py", "plain loop"]
        assert record["settings"]["sizes"]["train"] == 64
        assert any("timm train.py unavailable" in note for note in record["notes"])
    elif part == "scaling_all":
        record = json.loads((out / "scaling_b0_b5.json").read_text())
        assert [r["model"] for r in record["rows"]] == ["tf_efficientnet_b5"]
        assert record["settings"]["isolate"] is True  # its own process, as on the GPU
    else:
        record = json.loads((out / "ddp_scaling.json").read_text())
        assert [r["devices"] for r in record["rows"]] == [1, 2]
        assert all(r["efficiency"] > 0 for r in record["rows"])
