"""The run config stored inside a checkpoint, checked before anything is built from it.

A checkpoint is data a user may have downloaded: it must never decide which code runs. Rebuilding
a model instantiates the stored config with Hydra (`_target_` names a callable that is imported
and called), and OmegaConf resolves `${...}` interpolations (each calls a registered resolver).
So `checked_config` walks the whole stored config (dicts and lists, recursively) first and
refuses, with one line naming the checkpoint, the key path and the value:

- a `_target_` that the project's own config tree (`graytransfer.config.conf_dir()`) does not
  name under the same top-level group: `model._target_` must be a target that some file in
  `conf/model/` names, `head.pool._target_` one that `conf/head/` names, and so on (files with
  `# @package _global_` count for the group their keys land in). A target of the conf tree in
  another group (a `Trainer` as the `head`) is refused too. Nested targets (`_args_`, keyword
  values, list items) are reached by the walk, so none is instantiated unchecked. The other
  Hydra keys (`_partial_`, `_recursive_`, `_convert_`, `_args_`) only shape how an allowed
  target is called.
- any string holding `${`: graytransfer stores the config resolved
  (`OmegaConf.to_container(resolve=True)`), so no checkpoint it writes holds an interpolation,
  and refusing them means a stored config can call no resolver at all (`oc.env` would read the
  environment; a resolver another library registers could do anything).

The allowed targets are read once per conf folder (cached); a target of your own becomes
allowed by naming it in a file of the matching group in `conf/`.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from graytransfer.config import conf_dir
from graytransfer.errors import UserError

TARGET = "_target_"
INTERPOLATION = "${"
GLOBAL_PACKAGE = "_global_"
NOT_OURS = "it was not written by graytransfer or was tampered with"


def allowed_targets() -> Mapping[str, frozenset[str]]:
    """The `_target_` values the project's conf tree names, by top-level config key (`model`,
    `head`, `callbacks`, ...); read once per conf folder."""
    return _targets_in(conf_dir())


@functools.lru_cache(maxsize=4)
def _targets_in(conf: Path) -> Mapping[str, frozenset[str]]:
    found: dict[str, set[str]] = {}
    for path in sorted(conf.rglob("*.yaml")):
        rel = path.relative_to(conf)
        base = _package_of(path, rel)
        tree = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        for keys, value in _targets_of(tree, base):
            if keys and isinstance(value, str):
                found.setdefault(keys[0], set()).add(value)
    return {group: frozenset(targets) for group, targets in found.items()}


def _package_of(path: Path, rel: Path) -> list[str]:
    """Where a conf file's keys land: its top-level group folder, or `@package`'s place."""
    group = list(rel.parts[:1]) if len(rel.parts) > 1 else []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if text and not text.startswith("#"):
            break
        if text.startswith("#") and "@package" in text:
            package = text.split("@package", 1)[1].strip()
            if package == GLOBAL_PACKAGE:
                return []
            return [
                group[0] if part == "_group_" and group else part for part in package.split(".")
            ]
    return group


def _targets_of(tree: Any, keys: list[str]) -> Iterator[tuple[list[str], Any]]:
    if isinstance(tree, Mapping):
        for key, value in tree.items():
            if key == TARGET:
                yield keys, value
            yield from _targets_of(value, [*keys, str(key)])
    elif isinstance(tree, list):
        for value in tree:
            yield from _targets_of(value, keys)


def check_stored_config(config: Any, source: Path) -> None:
    """Raise UserError (one line) unless every `_target_` in `config` is one the conf tree names
    for its group and no string holds a `${...}` interpolation."""
    allowed = allowed_targets()
    for where, key, value in _walk(config, ""):
        if key == TARGET:
            group = where.split(".")[0].split("[")[0]
            if not isinstance(value, str) or value not in allowed.get(group, ()):
                raise UserError(
                    f"checkpoint '{source}' names {where}={_short(value)}, which no config in "
                    f"conf/{group}/ names: {NOT_OURS}; nothing was built from it (use a "
                    f"checkpoint written by graytransfer; a target of your own must be named in "
                    f"conf/{group}/)"
                )
        if isinstance(value, str) and INTERPOLATION in value:
            raise UserError(
                f"checkpoint '{source}' holds the interpolation {where}={_short(value)}, but "
                f"graytransfer stores its config resolved: {NOT_OURS}; nothing was built from it "
                "(use a checkpoint written by graytransfer)"
            )


def _walk(tree: Any, where: str) -> Iterator[tuple[str, Any, Any]]:
    """(key path, key, value) of every entry under `tree`: `a.b`, `a.list[0].c`."""
    if isinstance(tree, Mapping):
        items = (
            (f"{where}.{key}" if where else str(key), key, value) for key, value in tree.items()
        )
    elif isinstance(tree, (list, tuple)):
        items = ((f"{where}[{i}]", i, value) for i, value in enumerate(tree))
    else:
        return
    for path, key, value in items:
        yield path, key, value
        yield from _walk(value, path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def checked_config(config: Any, source: Path) -> DictConfig:
    """The stored run config of the checkpoint `source` as a DictConfig, after
    `check_stored_config` passed; a config OmegaConf cannot hold is a UserError too."""
    if not isinstance(config, Mapping) or not isinstance(config.get("model"), Mapping):
        raise UserError(
            f"checkpoint '{source}' holds no run config; it was not written by graytransfer"
        )
    check_stored_config(config, source)
    try:
        return OmegaConf.create(dict(config))
    except Exception as err:  # noqa: BLE001 - any value OmegaConf refuses
        raise UserError(
            f"checkpoint '{source}' holds a run config that is not a config "
            f"({type(err).__name__}); {NOT_OURS}"
        ) from err
