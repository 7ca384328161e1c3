"""export: ONNX (run by onnxruntime) and TorchScript take uint8 (N, 1, H, W) and match PyTorch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from helpers.exports import check_export
from helpers.trained_fixture import compose_task, trained_run  # noqa: F401 - the fixture

from graytransfer.errors import UserError
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
    check_export(path, trained, fmt, images, outputs=10)


def test_export_never_overwrites_a_users_file_and_replaces_only_its_own(
    trained_run,  # noqa: F811
    tmp_path: Path,
) -> None:
    best = trained_run[0] / "checkpoints" / "best.ckpt"

    def export(output: Path, *extra: str) -> Path:
        overrides = [f"ckpt_path={best}", "format=torchscript", f"output={output}", *extra]
        return run(compose_task("export", overrides, tmp_path / "hydra"))

    users = tmp_path / "model.pt"
    users.write_bytes(b"a user's own model")
    with pytest.raises(UserError, match=r"already exists and is not an export of this tool"):
        export(users, "overwrite=true")
    assert users.read_bytes() == b"a user's own model"

    ours = export(tmp_path / "ours.pt")
    first = ours.read_bytes()
    with pytest.raises(UserError, match=r"holds an earlier export: pass overwrite=true"):
        export(ours)
    with pytest.raises(UserError, match=r"differs from the PyTorch model"):
        export(ours, "overwrite=true", "tolerance=-1")  # a failed export replaces nothing
    assert ours.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    export(ours, "overwrite=true")
    assert torch.jit.load(str(ours)) is not None
