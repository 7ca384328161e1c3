"""Training from shards: real 2-process DDP sees each image once; a mid-epoch resume continues
with the same batches and ends with the same weights and validation/test metrics."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import torch
from helpers.configs import REPO, child_env, compose_config
from helpers.shard_helpers import read_seen, write_numbered_folder

from graytransfer.data import FolderDataModule
from graytransfer.data.store.shard_writer import convert
from graytransfer.run import train

#: timm's tiny test EfficientNet on the 16x16 numbered images
TINY = [
    "data=shards",
    "data.image_size=16",
    "data.num_workers=0",
    "model=timm",
    "model.name=test_efficientnet",
    "model.pretrained=false",
    "logger=none",
    "trainer.max_epochs=2",
    "trainer.enable_progress_bar=false",
    "trainer.deterministic=true",
    "callbacks=[model_checkpoint,nan_guard]",
    "seed=3",
]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> tuple[Path, FolderDataModule]:
    """162 numbered images: train 112, val 33, test 17 (odd: 2 ranks cannot share them evenly,
    so a sampler that pads the last round would score one image twice)."""
    base = tmp_path_factory.mktemp("train_shards")
    write_numbered_folder(base / "png", 162)
    data = FolderDataModule(
        root=str(base / "png"), image_size=16, val_split=0.2, test_split=0.1, scan="none"
    )
    data.setup("fit")
    convert(data, base / "out", {"data": "numbered"}, workers=1, chunk_size=16, verbose=False)
    return base / "out", data


def numbers(ids) -> list[int]:
    return sorted(int(Path(p).stem) for p in ids)


@pytest.mark.slow
def test_ddp_on_two_processes_sees_each_image_once(shards, tmp_path: Path) -> None:
    """Catches padded evaluation under DDP (Lightning's `DistributedSampler` repeats images so
    both ranks get as many; `graytransfer.data.sampler` must not): val and test hold an odd
    number of images, so padding would show as an image seen twice. Training: each image once an
    epoch, on one rank."""
    root, data = shards
    assert len(data.train_set) % (2 * 14) == 0  # equal shares: nothing dropped, nothing padded
    assert len(data.val_set) % 2 == 1 and len(data.test_set) % 2 == 1  # padding would show
    seen = tmp_path / "seen"
    command = [
        sys.executable, str(REPO / "train.py"), *TINY, f"data.root={root}",
        "data.batch_size=14", "trainer=ddp_cpu", f"hydra.run.dir={tmp_path / 'run'}",
        "+callbacks.rec._target_=helpers.shard_helpers.RecordIds", f"+callbacks.rec.folder={seen}",
    ]  # fmt: skip
    env = child_env(tmp_path)
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    records = read_seen(seen)
    assert {r["rank"] for r in records} == {0, 1}
    for epoch in (0, 1):
        train_ids = [i for r in records if r["stage"] == "train" and r["epoch"] == epoch
                     for i in r["ids"]]  # fmt: skip
        assert sorted(train_ids) == numbers(data.train_set.ids)  # every one, exactly once
        by_rank = [{i for r in records if r["stage"] == "train" and r["epoch"] == epoch
                    and r["rank"] == k for i in r["ids"]} for k in (0, 1)]  # fmt: skip
        assert not by_rank[0] & by_rank[1]
        val_ids = [i for r in records if r["stage"] == "val" and r["epoch"] == epoch
                   for i in r["ids"]]  # fmt: skip
        assert sorted(val_ids) == numbers(data.val_set.ids)
    test_ids = [i for r in records if r["stage"] == "test" for i in r["ids"]]
    assert sorted(test_ids) == numbers(data.test_set.ids)


def batches(folder: Path) -> list[tuple]:
    return [(r["stage"], r["epoch"], r["step"], tuple(r["ids"])) for r in read_seen(folder)]


@pytest.mark.slow
def test_mid_epoch_resume_continues_with_the_same_batches_and_ends_the_same(
    shards, tmp_path: Path
) -> None:
    root, _ = shards
    # dropout off and a constant learning rate (the schedule still builds the loader early,
    # in configure_optimizers): what stays is the loader's position (see
    # docs/shards.md for the two other things a mid-epoch stop changes)
    common = [
        *TINY,
        f"data.root={root}",
        "data.batch_size=16",
        "head.drop_rate=0",
        "scheduler.warmup_fraction=0",
        "scheduler.min_lr_ratio=1.0",
    ]

    def record(name: str) -> list[str]:
        return ["+callbacks.rec._target_=helpers.shard_helpers.RecordIds",
                f"+callbacks.rec.folder={tmp_path / name}"]  # fmt: skip

    whole = train(compose_config([*common, *record("seen_whole")], tmp_path / "whole"))
    stop = [
        "+callbacks.ctrl_c._target_=helpers.resume_helpers.CtrlCAtStep",
        "+callbacks.ctrl_c.step=10",
    ]
    handler = signal.getsignal(signal.SIGINT)
    try:  # step 10 = the 4th batch of epoch 1 (7 batches an epoch)
        with pytest.raises(SystemExit):
            train(compose_config([*common, *stop, *record("seen_cut")], tmp_path / "cut"))
    finally:
        signal.signal(signal.SIGINT, handler)
    resumed = train(
        compose_config([*common, "ckpt_path=last", *record("seen_cut")], tmp_path / "cut")
    )
    assert batches(tmp_path / "seen_cut") == batches(tmp_path / "seen_whole")
    for key, value in whole["metrics"].items():
        if key.startswith(("val/", "test/")):
            assert resumed["metrics"][key] == value, key
    ours = torch.load(tmp_path / "cut/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    theirs = torch.load(tmp_path / "whole/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)
    assert Counter(s for s, *_ in batches(tmp_path / "seen_cut"))["train"] == 14
