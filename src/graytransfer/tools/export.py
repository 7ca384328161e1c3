"""`python -m graytransfer.tools.export ckpt_path=PATH format=onnx|torchscript`: a model that runs
without graytransfer.

The exported graph takes single-channel images (N, 1, H, W) at the checkpoint's size in the dtype
the model was trained on (uint8; at full depth uint16 or int16, `graytransfer.adapt.intensity`) and
returns logits (calibrated when the checkpoint holds a `calibration=temperature` fit); the
intensity mapping, scaling to float, normalisation and the grayscale adaptation are inside it.
Every export is checked against the PyTorch model on random images of that dtype and printed; an
export that differs by more than `tolerance` is deleted and reported. A `<output>.json` beside it
lists the class names, the input it expects, the task and its decision rule (for multilabel and
binary tasks the per-output thresholds chosen on the validation split).

`ckpt_path` may be a list of checkpoints or a CV sweep folder: the export is then one graph that
averages the members' probabilities and returns them (output `probabilities`, not logits); the
sidecar says so and holds the ensemble's members and thresholds (graytransfer.evaluation.ensemble).

The export is written under a hidden temporary name and renamed into place only after its parity
check passes. An existing `output` is never touched unless it is an earlier export (its
`<output>.json` sidecar is there) and `overwrite=true` is given.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError

if TYPE_CHECKING:  # torch loads in `run`, after the command line (a fast --help)
    import numpy as np
    import torch
    from torch import nn

    from graytransfer.model.restore import TrainedModel

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}


def plain_classifier(classifier: nn.Module) -> nn.Module:
    """`UInt8Classifier`: stored-dtype (N, 1, H, W) (uint8, or uint16 / int16 at full depth) ->
    logits, the whole trained classifier as one plain module (a class made here, as torch loads
    only after the command line; TorchScript names it `<this module>.UInt8Classifier`)."""
    from torch import nn

    class UInt8Classifier(nn.Module):
        def __init__(self, classifier: nn.Module) -> None:
            super().__init__()
            self.classifier = classifier

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.classifier(images)

    return UInt8Classifier(classifier)


def export_onnx(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    opset: int,
    dynamo: bool,
    output: str = "logits",
):
    """Write an ONNX graph with input `images` (batch size free) and output `output` (`logits`;
    an ensemble's `probabilities`)."""
    import torch

    kwargs: dict[str, Any] = {"input_names": ["images"], "output_names": [output]}
    if dynamo:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch")},)
    else:
        kwargs["dynamic_axes"] = {"images": {0: "batch"}, output: {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, (example,), str(path), opset_version=opset, dynamo=dynamo, **kwargs
        )


def require_onnx() -> None:
    """ONNX export needs the `export` extra; say so instead of an ImportError deep inside."""
    import importlib.util

    missing = [m for m in ("onnx", "onnxruntime") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(
            f"format=onnx needs {' and '.join(missing)}: pip install 'graytransfer[export]' "
            "(or use format=torchscript)"
        )


def run_onnx(path: Path, images: torch.Tensor) -> np.ndarray:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: images.numpy()})[0]


def export_torchscript(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Trace to TorchScript. Lightning's `_jit_is_scripting` flag keeps the tracer from touching
    the module's `trainer` property (as `LightningModule.to_torchscript` does)."""
    import torch

    flagged = [m for m in module.modules() if hasattr(m, "_jit_is_scripting")]
    for each in flagged:
        each._jit_is_scripting = True
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(module, example, check_trace=False)
    finally:
        for each in flagged:
            each._jit_is_scripting = False
    traced.save(str(path))


def run_torchscript(path: Path, images: torch.Tensor) -> np.ndarray:
    import torch

    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.no_grad():
        return loaded(images).numpy()


def decision_rule(trained: TrainedModel) -> dict[str, Any]:
    """How a user of the exported model turns its logits into decisions: the task, the name of
    each output and, for multilabel/binary, the thresholds chosen on the validation split (the
    very ones stored in the checkpoint)."""
    rule = {"task": trained.task, "outputs": trained.output_names}
    if trained.thresholds is None:
        return {**rule, "decision": "argmax(logits)"}
    return {**rule, "thresholds": trained.thresholds, "decision": "sigmoid(logits) >= thresholds"}


def sidecar_of(output: Path) -> Path:
    """`<output>.json`: what an export writes beside the model (its mark of ownership)."""
    return output.with_name(output.name + ".json")


def check_output_free(output: Path, overwrite: bool) -> None:
    """`output` may be written: it does not exist, or it is an earlier export (its sidecar is
    there) and `overwrite` is set. Anything else is refused in one line; nothing is removed."""
    if not output.exists() and not output.is_symlink():
        if sidecar_of(output).exists() and not overwrite:
            raise UserError(
                f"'{sidecar_of(output)}' already exists: pass overwrite=true to replace it "
                "with this export's, or choose another output path"
            )
        return
    if output.is_dir():
        raise UserError(
            f"output '{output}' is a folder: give a file path, e.g. {output}/model.onnx"
        )
    if not sidecar_of(output).is_file():
        raise UserError(
            f"output '{output}' already exists and is not an export of this tool (no "
            f"{sidecar_of(output).name} beside it): choose another output path"
        )
    if not overwrite:
        raise UserError(
            f"output '{output}' holds an earlier export: pass overwrite=true to replace it, or "
            "choose another output path"
        )


def export_model(
    trained: TrainedModel,
    fmt: str,
    output: Path,
    tolerance: float = 1e-4,
    opset: int = 17,
    dynamo: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Export, check parity on uint8 input, write the sidecar JSON; return what was checked.
    The file appears at `output` only when it passed (`check_output_free` guards `output`)."""
    if fmt not in FORMATS:
        raise UserError(f"format: '{fmt}' is not one of {', '.join(FORMATS)}")
    if fmt == "onnx":
        require_onnx()
    check_output_free(output, overwrite)
    output.parent.mkdir(parents=True, exist_ok=True)
    # a new, uniquely named file of our own (never a user's), with the suffix the runtimes want
    handle, name = tempfile.mkstemp(
        dir=output.parent, prefix=f".{output.stem}.", suffix=output.suffix
    )
    os.close(handle)
    partial = Path(name)
    try:
        info = export_checked(trained, fmt, partial, tolerance, opset, dynamo)
        os.replace(partial, output)
    finally:
        partial.unlink(missing_ok=True)
    write_text_atomic(sidecar_of(output), json.dumps(info, indent=2) + "\n")
    print(f"exported {output} (and {output.name}.json: class names, input spec)")
    return info


def export_checked(
    trained: TrainedModel, fmt: str, output: Path, tolerance: float, opset: int, dynamo: bool
) -> dict[str, Any]:
    """Write the export to `output` and check its parity; the sidecar's record, or a UserError
    (the caller deletes `output`) when it differs by more than `tolerance`."""
    import numpy as np
    import torch

    from graytransfer.adapt.mapped import input_spec, random_images
    from graytransfer.evaluation.ensemble import (
        AveragedClassifier,
        ProbabilityGraph,
        export_sidecar,
    )
    from graytransfer.evaluation.temperature import stored_calibration

    # an ensemble (or TTA) exports one graph averaging the members' probabilities
    averaged = isinstance(trained.model, AveragedClassifier)
    module = (ProbabilityGraph if averaged else plain_classifier)(trained.model).eval()
    output_name = "probabilities" if averaged else "logits"
    spec = input_spec(trained.model.input_adapter)
    example = random_images(spec, trained.image_size, count=2, seed=1)
    check = random_images(spec, trained.image_size, count=4, seed=0)
    dtype = str(spec[0]).removeprefix("torch.")
    # the TorchScript-based ONNX exporter rejects uint16 inputs; torch.export (dynamo) takes them
    dynamo = dynamo or spec[0] == torch.uint16
    with torch.no_grad():
        expected = module(check).numpy()
        if fmt == "onnx":
            export_onnx(module, example, output, opset, dynamo, output_name)
            got = run_onnx(output, check)
        else:
            export_torchscript(module, example, output)
            got = run_torchscript(output, check)
    difference = float(np.abs(got - expected).max())
    height, width = trained.image_size
    print(
        f"parity check ({fmt} vs PyTorch, {len(check)} random {dtype} images {height}x{width}): "
        f"max |logit difference| = {difference:.2e} (tolerance {tolerance:.0e})"
    )
    if not difference <= tolerance:
        raise UserError(
            f"the {fmt} export of '{trained.source}' differs from the PyTorch model by "
            f"{difference:.2e} > tolerance {tolerance:.0e}; it was deleted. Try dynamo=true or "
            "another opset"
        )
    info = {
        "checkpoint": str(trained.source),
        "format": fmt,
        "model": trained.model_name,
        "strategy": trained.strategy,
        "class_names": trained.class_names,
        "input": {"dtype": dtype, "shape": ["N", 1, height, width], "name": "images"},
        "output": {"name": "logits", "shape": ["N", len(trained.output_names)]},
        **decision_rule(trained),
        # calibration=temperature: inside the graph, its logits are the calibrated ones
        "calibration": stored_calibration(trained.model),
        "parity_max_abs_diff": difference,
    }
    if averaged:  # its output: the averaged probabilities, decided on those
        info.update(export_sidecar(trained))  # type: ignore[arg-type]
    return info


def run(cfg: DictConfig) -> Path:
    """Export `cfg.ckpt_path` in `cfg.format`; return the exported file's path. A value left at
    ??? (`ckpt_path`) stops it in one line before torch is imported."""
    fmt = str(cfg.get("format", "onnx"))
    if fmt not in FORMATS:
        raise UserError(f"format: '{fmt}' is not one of {', '.join(FORMATS)}")
    check_missing(cfg)
    from graytransfer.run.checkpoints import load_model

    trained = load_model(cfg.ckpt_path)  # a list or a CV folder: the ensemble
    default = Path(cfg.paths.output_dir) / f"model{FORMATS[fmt]}"
    output = Path(cfg.output) if cfg.get("output") else default
    export_model(
        trained,
        fmt,
        output,
        tolerance=float(cfg.get("tolerance", 1e-4)),
        opset=int(cfg.get("opset", 17)),
        dynamo=bool(cfg.get("dynamo", False)),
        overwrite=bool(cfg.get("overwrite", False)),
    )
    return output


main = hydra_entry("export", run)


if __name__ == "__main__":
    main()
