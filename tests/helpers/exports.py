"""An exported model (ONNX or TorchScript) checked against the PyTorch model it came from."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def check_export(path: Path, trained, fmt: str, images: torch.Tensor, outputs: int) -> None:
    """The export at `path` gives the PyTorch model's logits on `images` (uint8, 16x16) within
    1e-4, and its sidecar names the classes and the uint8 (N, 1, 16, 16) input."""
    with torch.no_grad():
        expected = trained.model(images)
    if fmt == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        assert session.get_inputs()[0].type == "tensor(uint8)"
        got = torch.from_numpy(session.run(None, {"images": images.numpy()})[0])
    else:
        got = torch.jit.load(str(path))(images)
    assert got.shape == (len(images), outputs)
    assert (got - expected).abs().max().item() <= 1e-4
    sidecar = json.loads(path.with_name(path.name + ".json").read_text())
    assert sidecar["class_names"] == trained.class_names
    assert sidecar["input"]["shape"] == ["N", 1, 16, 16] and sidecar["input"]["dtype"] == "uint8"
