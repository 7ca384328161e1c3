"""The one way to find the Hydra config tree and compose a config from it.

`train.py`, the `python -m graytransfer.tools.*` entry points, the benchmarks and the tests all
compose through `compose()`, so each of them sees exactly what `python train.py ...` would.
The tree lives at the repository's top level (`conf/`, next to `src/`); `conf_dir()` finds it
from this package's location in a source checkout (`pip install -e .`), or from the
`GRAYTRANSFER_CONF` environment variable. Inside `@hydra.main`, `hydra_runtime()`,
`in_multirun()` and `hydra_choices()` say what the running job is; outside it (a config composed
by a test or a tool) there is no job: None, False and no choices.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf, open_dict

from graytransfer.errors import UserError

#: what a required value (`???` in conf/) takes, for the message; other keys: VALUE
REQUIRED_HINTS = {
    "data.root": "DIR, a folder with one sub-folder of images per class",
    "data.csv": "FILE, a CSV of path,label rows",
    "ckpt_path": "PATH, a checkpoint file (.ckpt)",
    "input": "PATH, an image or a folder of images",
}
#: environment variable naming a conf/ folder to use instead of the checkout's
CONF_ENV = "GRAYTRANSFER_CONF"
#: conf/ of the source checkout this package is imported from (src/graytransfer/ -> ../../conf)
CHECKOUT_CONF = Path(__file__).resolve().parents[2] / "conf"


def conf_dir() -> Path:
    """The folder holding `train.yaml` and the config groups.

    Raises UserError (one line, what to do) when there is none: the package was installed
    without its checkout (`pip install .` copies `src/` only)."""
    override = os.environ.get(CONF_ENV)
    conf = Path(override).expanduser() if override else CHECKOUT_CONF
    if (conf / "train.yaml").is_file():
        return conf.resolve()
    where = f"{CONF_ENV}='{override}'" if override else f"'{conf}'"
    raise UserError(
        f"no Hydra config tree at {where} (train.yaml missing): install graytransfer from its "
        f"checkout with `pip install -e .`, or set {CONF_ENV} to the checkout's conf/ folder"
    )


def compose(
    overrides: Sequence[str] = (),
    config_name: str = "train",
    output_dir: str | Path | None = None,
    with_hydra: bool = False,
) -> DictConfig:
    """`conf/<config_name>.yaml` with Hydra `overrides`, as the entry point of that name composes
    it. Hydra's own errors (an unknown choice, a misspelled key) propagate unchanged.

    With `output_dir`, the run writes there (`paths.output_dir`) and its logs under
    `output_dir/logs`: outside `@hydra.main` no run folder is made for it. With `with_hydra`, the
    `hydra` node (run folder, help texts, ...) is kept."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    conf = conf_dir()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = hydra_compose(
            config_name=config_name, overrides=list(overrides), return_hydra_config=with_hydra
        )
    if output_dir is not None:
        with open_dict(cfg):
            cfg.paths.output_dir = str(output_dir)
            cfg.paths.log_dir = str(Path(output_dir) / "logs")
    return cfg


def check_missing(cfg: DictConfig, prefix: str = "") -> None:
    """Raise UserError (one line) naming the first value still `???` (e.g. `data.root` of
    `data=folder`, `ckpt_path` of the evaluate tool), in config order; `prefix` names where a
    sub-config sits (`check_missing(cfg.data, "data.")`). Needs no torch: an entry point that
    runs it first answers a missing value at once (`train.py` does)."""
    missing = next(_missing_keys(cfg, prefix), None)
    if missing is not None:
        what = REQUIRED_HINTS.get(missing, "VALUE")
        raise UserError(f"{missing} is required: pass {missing}={what}")


def _missing_keys(node: DictConfig | ListConfig, prefix: str) -> Iterator[str]:
    keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
    for key in keys:
        path = f"{prefix}{key}" if isinstance(node, DictConfig) else f"{prefix[:-1]}[{key}]"
        if OmegaConf.is_missing(node, key):
            yield path
            continue
        child = node._get_node(key)
        if isinstance(child, (DictConfig, ListConfig)) and not child._is_none():
            yield from _missing_keys(child, f"{path}.")


def hydra_runtime() -> Any | None:
    """The running Hydra job's `hydra` node, or None outside `@hydra.main`."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return HydraConfig.get()
    except ValueError:
        return None


def in_multirun() -> bool:
    """True inside a job launched by `python train.py -m ...` (any sweeper, any launcher)."""
    from hydra.types import RunMode

    hydra_cfg = hydra_runtime()
    return hydra_cfg is not None and hydra_cfg.mode == RunMode.MULTIRUN


def hydra_choices() -> dict[str, str]:
    """The config-group choices of the running Hydra job (`model: lite0`, ...), if any."""
    hydra_cfg = hydra_runtime()
    if hydra_cfg is None:
        return {}
    choices = hydra_cfg.runtime.choices
    return {k: str(v) for k, v in choices.items() if not k.startswith("hydra/") and v is not None}


def data_choice(cfg: DictConfig) -> str:
    """`csv`, `folder`, ...: the data choice of the job, else the conf/data file naming the
    config's `_target_`, else the target's class name (for messages)."""
    target = str(cfg.data.get("_target_", "?"))
    files = sorted((conf_dir() / "data").glob("*.yaml"))
    named = (p.stem for p in files if target in p.read_text())
    return hydra_choices().get("data") or next(named, target.rsplit(".", 1)[-1])
