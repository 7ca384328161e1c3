"""Fast twin of the slow bad-file run (data/decode/test_data_bad_files.py): a tiny in-process run
(timm's test EfficientNet at 16x16, one batch, no worker process) on a folder with a truncated
image skips it, warns naming the file and counts it in the run's data summary."""

from __future__ import annotations

import pytest
from helpers.configs import TEST_NET, compose_config
from helpers.datafiles import class_folders, truncate

from graytransfer.run import train


def test_skip_in_a_run_warns_naming_the_file_and_counts_it(tmp_path) -> None:
    class_folders(tmp_path / "images", {"a": 4, "b": 4})
    broken = truncate(tmp_path / "images" / "a" / "003.png")
    overrides = [
        *TEST_NET,
        "data=folder",
        f"data.root={tmp_path / 'images'}",
        "data.batch_size=8",
        "data.num_workers=0",
        "data.scan=none",
        "data.cache=false",
        "data.on_bad_file=skip",
        "data.val_split=0",
        "data.test_split=0",
        "logger=none",
        "trainer.fast_dev_run=1",
        "trainer.enable_progress_bar=false",
        "callbacks=[model_checkpoint]",
    ]
    with pytest.warns(UserWarning, match=f"skipped 1 unreadable file.*'{broken}'"):
        info = train(compose_config(overrides, tmp_path / "run"))
    assert "1 bad file(s) skipped" in info["data"]
