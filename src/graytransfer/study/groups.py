"""Runs grouped by experiment: their whole config, less the keys that do not change the result.

The report and the study (`python -m graytransfer.tools.report`, `... study`) group runs whose
experiment configs are equal, so the runs of a group differ only by seed, and count each seed
once (the newest run of a repeated seed). A run's config is its folder's `.hydra/config.yaml`
(what `train.py` wrote), else the `hyper_parameters.config` of the checkpoint its
`metrics.json` names, else only the Hydra choices and names its `metrics.json` records (source
`metrics.json`).
"""

from __future__ import annotations

import json
import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from graytransfer.errors import UserError
from graytransfer.model.stored_config import check_stored_config
from graytransfer.run import RunFolder

#: config keys (and everything under them) that are not part of the experiment:
#: the replicate (`seed`), where files go (`paths`, `hydra`, `task_name`), how a run was continued
#: (`ckpt_path`, `resume`), where metrics are sent and their labels (`logger`, `tags`), what a sweep
#: does with a failed job (`sweep`), display and logging (progress bar, logging interval, the
#: learning-rate monitor, the confusion-matrix and input-preview pictures) and loader speed
#: (`data.num_workers`), permission to read a checkpoint (`model.trust_checkpoint`) and how the
#: test metrics' intervals are made (`eval`: the same trained model, only its error bars).
#: Everything else, accelerator and precision included, is the experiment.
EXCLUDED_KEYS = (
    "seed",
    "paths",
    "hydra",
    "task_name",
    "ckpt_path",
    "resume",
    "logger",
    "tags",
    "sweep",
    "trainer.enable_progress_bar",
    "trainer.log_every_n_steps",
    "callbacks.rich_progress_bar",
    "callbacks.lr_monitor",
    "callbacks.confusion_matrix",
    "callbacks.input_preview",
    "data.num_workers",
    "model.trust_checkpoint",
    "eval",
)
#: keys that name an output folder wherever they are (a checkpoint folder, a logger's folder)
PATH_LEAVES = ("dirpath", "output_dir", "save_dir", "default_root_dir")
#: the config groups a report's model, weights, strategy and data columns name
LABEL_GROUPS = ("model.", "adapt.", "data.")
#: how a config key a group's config lacks is shown
MISSING = "–"


def run_config(run_dir: Path, record: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """(the run's experiment config as flat `dotted.key: value` pairs, where it was read from)."""
    saved = run_dir / RunFolder.HYDRA / "config.yaml"
    if saved.is_file():
        return experiment_keys(OmegaConf.load(saved)), f"{RunFolder.HYDRA}/config.yaml"
    config = checkpoint_config(record.get("best_checkpoint"))
    if config is not None:
        return experiment_keys(OmegaConf.create(config)), "checkpoint"
    choices = record.get("choices") or {}
    fallback = {group: {"choice": choice} for group, choice in choices.items()}
    fallback.setdefault("model", {}).update(
        name=record.get("model"), pretrained=record.get("pretrained"), weights=record.get("weights")
    )
    fallback.setdefault("adapt", {})["strategy"] = record.get("strategy")
    return experiment_keys(OmegaConf.create(fallback)), RunFolder.RECORD


def checkpoint_config(path: Any) -> dict[str, Any] | None:
    """`hyper_parameters.config` of the checkpoint at `path`, or None when it cannot be read or
    fails the stored-config check (`graytransfer.model.stored_config`)."""
    if not path or not Path(str(path)).is_file():
        return None
    from graytransfer.model.checkpoint_file import read_checkpoint  # torch: only for a checkpoint

    try:
        config = read_checkpoint(str(path)).get("hyper_parameters", {}).get("config")
        if not isinstance(config, dict):
            return None
        check_stored_config(config, Path(str(path)))  # no resolver runs on a file's strings
    except UserError:
        return None
    return config


def experiment_keys(cfg: DictConfig) -> dict[str, Any]:
    """`cfg` flattened to `dotted.key: value`, interpolations resolved where they can be (one that
    needs a removed key or Hydra's runtime stays as written), EXCLUDED_KEYS and PATH_LEAVES out."""
    flat = _flatten(cfg, "")
    return {
        key: value
        for key, value in flat.items()
        if not any(key == ex or key.startswith(ex + ".") for ex in EXCLUDED_KEYS)
        and key.rsplit(".", 1)[-1] not in PATH_LEAVES
    }


def _flatten(node: Any, prefix: str) -> dict[str, Any]:
    if isinstance(node, DictConfig):
        keys: list[Any] = list(node.keys())
    elif isinstance(node, ListConfig):
        keys = list(range(len(node)))
    else:
        return {prefix: node}
    if not keys:
        return {prefix: "{}" if isinstance(node, DictConfig) else "[]"} if prefix else {}
    flat: dict[str, Any] = {}
    for key in keys:
        flat.update(_flatten(_value(node, key), f"{prefix}.{key}" if prefix else str(key)))
    return flat


def _value(node: DictConfig | ListConfig, key: Any) -> Any:
    try:
        return node[key]
    except Exception:  # noqa: BLE001 - an interpolation that cannot resolve here stays as written
        return str(node._get_node(key)._value())  # type: ignore[union-attr]


def config_value(value: Any) -> str:
    """How a config value is shown in a report."""
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"{value:g}"
    return value if isinstance(value, str) else json.dumps(value)


@dataclass
class Group:
    """The runs whose experiment config (`run_config`) is the same."""

    data: str
    model: str
    weights: str
    strategy: str
    config: dict[str, Any] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def label(self) -> tuple[str, str, str, str]:
        return self.data, self.model, self.weights, self.strategy

    def values(self, path: Sequence[str]) -> list[float]:
        found = []
        for run in self.runs:
            value: Any = run
            for key in path:
                value = value.get(key) if isinstance(value, dict) else None
            if isinstance(value, (int, float)) and math.isfinite(value):
                found.append(float(value))
        return found


def task_of(runs: Iterable[dict[str, Any]]) -> str:
    """`multilabel`, `binary` or `multiclass`: the task of runs, from their Hydra choice or,
    for records without one, from the metrics only that task logs."""
    for run in runs:
        choice = (run.get("choices") or {}).get("task")
        if choice:
            return str(choice)
        metrics = run.get("metrics") or {}
        if "test/auroc_micro" in metrics:
            return "multilabel"
        if "test/sensitivity" in metrics:
            return "binary"
    return "multiclass"


def headline_metric(runs: Iterable[dict[str, Any]]) -> str:
    """What ranks runs: test accuracy, or macro AUROC for multilabel and binary runs."""
    return "test/acc" if task_of(runs) == "multiclass" else "test/auroc"


def run_key(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """(data, model, weights, strategy) of one run, from its Hydra choices where present."""
    choices = record.get("choices") or {}
    data = choices.get("data") or str(record.get("data", "?")).split(":")[0]
    model = choices.get("model") or str(record.get("model", "?"))
    weights = "ImageNet" if record.get("pretrained", True) else "random init"
    strategy = str(record.get("strategy") or choices.get("adapt") or "?")
    return data, model, weights, strategy


def group_runs(
    runs: Iterable[dict[str, Any]],
) -> tuple[list[Group], list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]]]:
    """(groups of finished runs with equal experiment configs, the runs that failed or diverged,
    (left out, kept) pairs of finished runs of one group with the same seed: the newer is kept)."""
    groups: dict[str, Group] = {}
    bad = []
    for run in runs:
        if run.get("status", "ok") != "ok":
            bad.append(run)
            continue
        experiment = json.dumps([run_key(run), run["_config"]], sort_keys=True, default=str)
        group = groups.setdefault(experiment, Group(*run_key(run), config=run["_config"]))
        group.runs.append(run)
    repeats = [pair for group in groups.values() for pair in _one_run_per_seed(group)]
    ordered = sorted(
        groups.values(),
        key=lambda g: (g.data, g.model, -mean(g.values(("metrics", headline_metric(g.runs))))),
    )
    return ordered, bad, repeats


def _one_run_per_seed(group: Group) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Keep the newest run of each seed in `group`; return the (left out, kept) pairs.
    Unseeded runs (`seed: null`) are all kept."""
    newest: dict[Any, dict[str, Any]] = {}
    kept, repeats = [], []
    for run in sorted(group.runs, key=lambda r: r["_mtime"], reverse=True):
        seed = run.get("seed")
        if seed is not None and seed in newest:
            repeats.append((run, newest[seed]))
            continue
        if seed is not None:
            newest[seed] = run
        kept.append(run)
    group.runs = sorted(kept, key=lambda r: r["_dir"])
    return repeats


def differing_keys(groups: list[Group]) -> list[str]:
    """The config keys whose values are not the same in all `groups` (a missing key counts)."""
    keys = sorted({key for g in groups for key in g.config})
    return [k for k in keys if len({repr(g.config.get(k, MISSING)) for g in groups}) > 1]


def extra_columns(groups: list[Group]) -> list[str]:
    """The differing keys a report shows as columns: all but the keys of the `model`, `adapt`
    and `data` config groups that the model/weights/strategy/data label already tells apart
    (the same value in every group of the same label)."""
    columns = []
    for key in differing_keys(groups):
        if not key.startswith(LABEL_GROUPS):
            columns.append(key)
            continue
        seen: dict[tuple[str, str, str, str], str] = {}
        for g in groups:
            value = repr(g.config.get(key, MISSING))
            if seen.setdefault(g.label, value) != value:
                columns.append(key)
                break
    return columns


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def by_data(groups: list[Group]) -> dict[str, list[Group]]:
    """The groups per dataset (`data=`), in order of first appearance."""
    by_data: dict[str, list[Group]] = defaultdict(list)
    for group in groups:
        by_data[group.data].append(group)
    return dict(by_data)
