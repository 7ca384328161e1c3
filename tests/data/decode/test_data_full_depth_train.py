"""End to end at full depth (`data.bit_depth=16`): a 16-bit PNG folder and a DICOM folder train;
the checkpoint restores with its mapping; export (ONNX, TorchScript) takes the stored dtype with
the mapping inside the graph; predict reads files at the model's depth."""

from __future__ import annotations

import csv
import json

import numpy as np
import onnxruntime
import pytest
import torch
from helpers.configs import TEST_NET, compose_config
from helpers.datafiles import write_16bit, write_dicom
from helpers.trained_fixture import compose_task

from graytransfer.adapt.mapped import MappedInput
from graytransfer.model.restore import load_trained
from graytransfer.run import train
from graytransfer.tools import export, predict

#: a real timm EfficientNet, small, one short epoch with a checkpoint
SHORT = [
    *TEST_NET,
    "data.num_workers=0",
    "data.test_split=0.25",
    "data.val_split=0.25",
    "trainer.max_epochs=1",
    "trainer.enable_progress_bar=false",
    "callbacks=[model_checkpoint]",
    "logger=none",
]


def sixteen_bit_folder(root):
    rng = np.random.default_rng(3)
    for k, name in enumerate(("dim", "bright")):
        for i in range(8):
            write_16bit(root / name / f"{i}.png", 20000 + 40 * k + rng.integers(0, 30, (20, 20)))
    return root


def dicom_folder(root):
    rng = np.random.default_rng(4)
    for k, name in enumerate(("water", "fat")):
        for i in range(8):
            stored = 1024 + (0 if k == 0 else -90) + rng.integers(0, 20, (20, 20))
            write_dicom(root / name / f"{i}.dcm", stored, intercept=-1024, window=(40, 400))
    return root


def trained(tmp_path, data_root, overrides):
    cfg = compose_config(
        [*SHORT, "data=folder", f"data.root={data_root}", "data.bit_depth=16", *overrides],
        tmp_path / "run",
    )
    info = train(cfg)
    assert info["status"] == "ok"
    return load_trained(tmp_path / "run" / "checkpoints" / "last.ckpt")


@pytest.mark.slow
def test_16bit_folder_trains_and_exports_uint16_with_its_mapping(tmp_path):
    root = sixteen_bit_folder(tmp_path / "png16")
    model = trained(tmp_path, root, ["intensity=range", "adapt=windows"]).model
    assert isinstance(model.input_adapter, MappedInput)
    assert model.input_adapter.input_dtype == torch.uint16
    low, high = model.input_adapter.intensity.bounds.tolist()
    assert 20000 <= low < high <= 20070  # the measured range travelled in the checkpoint
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    images = torch.randint(20000, 20070, (3, 1, 16, 16)).to(torch.uint16)
    with torch.no_grad():
        expected = model(images)
    for fmt in ("onnx", "torchscript"):
        path = export.run(compose_task("export", [f"ckpt_path={ckpt}", f"format={fmt}"], tmp_path))
        if fmt == "onnx":
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            assert session.get_inputs()[0].type == "tensor(uint16)"
            got = torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
        else:
            got = torch.jit.load(str(path))(images)
        assert (got - expected).abs().max().item() <= 1e-4
        sidecar = json.loads(path.with_name(path.name + ".json").read_text())
        assert sidecar["input"]["dtype"] == "uint16"


@pytest.mark.slow
def test_dicom_folder_trains_on_hu_and_predicts_at_full_depth(tmp_path):
    root = dicom_folder(tmp_path / "dicom")
    restored = trained(tmp_path, root, ["intensity=ct", "intensity.preset=mediastinum",
                                        "adapt=fold"])  # fmt: skip
    mapping = restored.model.input_adapter.intensity
    assert restored.model.input_adapter.input_dtype == torch.int16
    assert mapping.window.tolist() == [50.0, 350.0]
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    out = tmp_path / "pred.csv"
    predict.run(compose_task("predict", [f"ckpt_path={ckpt}", f"input={root}", f"output={out}"],
                             tmp_path))  # fmt: skip
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 16
    first = next(iter(sorted(root.rglob("*.dcm"))))
    from graytransfer.data.decode.gray import read_gray

    image = read_gray(first, (16, 16), dtype=np.int16).unsqueeze(0)
    with torch.no_grad():
        probability = restored.model(image).softmax(-1)[0]
    row = next(r for r in rows if r["path"] == str(first))
    assert float(row[f"prob_{restored.class_names[0]}"]) == pytest.approx(
        probability[0].item(), abs=1e-5
    )
