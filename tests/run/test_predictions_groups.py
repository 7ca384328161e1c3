"""A grouped CSV run (`data.group_column=patient`): predictions.csv names each image's patient,
and the intervals resample whole patients (`intervals.over: groups`)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from helpers.configs import TEST_NET, compose_config
from PIL import Image

from graytransfer.run import RunFolder, train


def _grouped_csv(root: Path, patients: int = 12, per_patient: int = 3) -> Path:
    """Two classes of 16x16 PNGs (dark, bright), each patient's images of one class."""
    rng = np.random.default_rng(0)
    lines = ["path,label,patient"]
    for p in range(patients):
        label = "bright" if p % 2 else "dark"
        for i in range(per_patient):
            base = 180 if label == "bright" else 60
            pixels = np.clip(rng.normal(base, 30, (16, 16)), 0, 255).astype(np.uint8)
            name = f"p{p}_{i}.png"
            Image.fromarray(pixels).save(root / name)
            lines.append(f"{name},{label},patient{p}")
    table = root / "list.csv"
    table.write_text("\n".join(lines) + "\n")
    return table


def test_grouped_run_names_patients_and_resamples_them(tmp_path: Path) -> None:
    table = _grouped_csv(tmp_path)
    overrides = [
        *TEST_NET,
        "data=csv",
        f"data.csv={table}",
        "data.group_column=patient",
        "data.split_column=null",
        "data.val_split=0.25",
        "data.test_split=0.34",
        "data.batch_size=8",
        "data.num_workers=0",
        "callbacks=[model_checkpoint]",
        "trainer.max_epochs=1",
        "trainer.enable_progress_bar=false",
        "logger=none",
        "eval.bootstrap=100",
    ]
    info = train(compose_config(overrides, tmp_path / "run"))
    folder = RunFolder(info["output_dir"])
    with (folder.path / RunFolder.PREDICTIONS).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:3] == ["id", "group", "split"]
    for row in rows:
        assert row["group"] == "patient" + Path(row["id"]).stem.split("_")[0][1:]
    record = json.loads(folder.record_file.read_text())
    patients = len({row["group"] for row in rows})
    assert record["intervals"]["over"] == "groups"
    assert record["intervals"]["units"] == patients
    assert len(rows) == 3 * patients
