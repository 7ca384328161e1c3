"""export: ONNX (run by onnxruntime) and TorchScript take uint8 (N, 1, H, W) and match PyTorch."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime
import pytest
import torch
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture

from graytransfer.model.restore import load_trained
from graytransfer.tools.export import run


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_matches_pytorch_logits_on_uint8(
    trained_run,  # noqa: F811
    tmp_path: Path,
    fmt: str,
    capsys,
) -> None:
    run_dir, _ = trained_run
    best = run_dir / "checkpoints" / "best.ckpt"
    path = run(compose_task("export", [f"ckpt_path={best}", f"format={fmt}"], tmp_path))
    assert "parity check" in capsys.readouterr().out
    trained = load_trained(best)
    images = torch.randint(
        0, 256, (5, 1, 16, 16), dtype=torch.uint8, generator=torch.Generator().manual_seed(7)
    )
    with torch.no_grad():
        expected = trained.model(images)
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == "tensor(uint8)"
        got = torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
    else:
        got = torch.jit.load(str(path))(images)
    assert got.shape == (5, 10)
    assert (got - expected).abs().max().item() <= 1e-4
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["class_names"] == trained.class_names
    assert sidecar["input"]["shape"] == ["N", 1, 16, 16] and sidecar["input"]["dtype"] == "uint8"
