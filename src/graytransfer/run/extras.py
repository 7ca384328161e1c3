"""The `extras` of a run (conf/extras/), applied by `train.py` before torch is imported.

- `ignore_warnings`: silences exactly the known upstream noise named below (`KNOWN_NOISE`),
  each by its own text and source, and nothing else.
- `enforce_tags`: refuses a run whose `tags` list is empty (one line, never a prompt).
- `print_config`: prints the composed config as a rich tree (rank 0 only).

The model summary's all-zero FLOPs column is the fourth known noise; it is printed by a callback,
so `graytransfer.callbacks.summary.ModelSummary` drops it when `extras.ignore_warnings` is on.
"""

from __future__ import annotations

import logging
import os
import re
import warnings
from collections.abc import Sequence

from omegaconf import DictConfig, ListConfig, OmegaConf

from graytransfer.errors import UserError

#: W&B (0.31 here) warns whenever `anonymous` is passed at all, and Lightning's WandbLogger always
#: passes it (`anonymous=None`); printed once per process by `wandb.termwarn(..., repeat=False)`
WANDB_ANONYMOUS = "The anonymous setting has no effect and will be removed in a future version."
#: torch 2.14 deprecates constructing `LeafSpec`; Lightning 2.6's `_pytree._tree_flatten` still
#: does, for a container of plain values such as a dict of logged numbers (a FutureWarning)
LEAFSPEC_DEPRECATION = (
    "`isinstance(treespec, LeafSpec)` is deprecated, "
    "use `isinstance(treespec, TreeSpec) and treespec.is_leaf()` instead."
)
#: Lightning 2.6 advertises its cloud logger at every Trainer start (an INFO record)
LITLOGGER_TIP = "💡 Tip: For seamless cloud logging and experiment tracking, try installing"
#: Lightning's note that it adds no summary of its own, printed because the project's summary
#: (`graytransfer.callbacks.summary.ModelSummary`, the one that drops the all-zero FLOPs column) is
#: configured; silenced only when it names that class
OWN_SUMMARY_NOTE = (
    "Trainer already configured with model summary callbacks: "
    "[<class 'graytransfer.callbacks.summary.ModelSummary'>]."
)
#: the logger Lightning's `rank_zero_info` writes through
LIGHTNING_RANK_ZERO_LOGGER = "lightning.pytorch.utilities.rank_zero"
#: what `ignore_warnings` silences, for `--help`-style listings and the docs
KNOWN_NOISE = {
    "wandb-anonymous": WANDB_ANONYMOUS,
    "torch-leafspec": LEAFSPEC_DEPRECATION,
    "lightning-litlogger-tip": LITLOGGER_TIP,
    "lightning-summary-zero-flops": "the model summary's FLOPs column when every value is 0",
    "lightning-own-summary-note": OWN_SUMMARY_NOTE,
}
#: the config's top-level keys in the order `print_config` shows them; the rest follow
PRINT_ORDER = ("data", "model", "adapt", "head", "optim", "scheduler", "trainer", "callbacks")


def apply_extras(cfg: DictConfig) -> None:
    """Apply `cfg.extras` (absent or null: nothing). Raises UserError from `enforce_tags`."""
    extras = cfg.get("extras")
    if not extras:
        return
    if extras.get("enforce_tags"):
        enforce_tags(cfg.get("tags"))
    if extras.get("ignore_warnings"):
        ignore_warnings()
    if extras.get("print_config") and _rank() == 0:
        print_config(cfg)


class _DropMessages(logging.Filter):
    """Drops log records whose message starts with one of `prefixes`."""

    def __init__(self, *prefixes: str) -> None:
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefixes)


def ignore_warnings() -> None:
    """Silence each known upstream warning (`KNOWN_NOISE`), by its exact text and source.

    Idempotent: calling it twice installs nothing twice."""
    warnings.filterwarnings(
        "ignore",
        message=re.escape(LEAFSPEC_DEPRECATION),
        category=FutureWarning,
    )
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    if not any(isinstance(f, _DropMessages) for f in rank_zero.filters):
        rank_zero.addFilter(_DropMessages(LITLOGGER_TIP, OWN_SUMMARY_NOTE))
    _mark_wandb_warning_printed(WANDB_ANONYMOUS)


def _mark_wandb_warning_printed(message: str) -> None:
    """W&B prints a `repeat=False` warning only if its text (after its `WARNING` prefix) is not
    yet in its set of printed messages; putting it there silences that one message (W&B has no
    filter of its own for it)."""
    try:
        from wandb.errors import term
    except ImportError:  # W&B not installed: nothing to silence
        return
    printed = getattr(term, "_printed_messages", None)
    if isinstance(printed, set):
        printed.add(f"{term.WARN_STRING} {message}")


def enforce_tags(tags: Sequence[str] | ListConfig | None) -> None:
    """Raise UserError (one line) when `tags` is empty: with `extras.enforce_tags` on, every run
    is named by at least one tag (W&B tags, `metrics.json`)."""
    if tags is None or len(tags) == 0:
        raise UserError(
            "tags: empty while extras.enforce_tags is on; tag the run, e.g. "
            "'tags=[baseline,lite0]', or turn the check off with extras.enforce_tags=false"
        )


def print_config(cfg: DictConfig, resolve: bool = True) -> None:
    """Print `cfg` as a rich tree: one branch per top-level key, its YAML inside, interpolations
    resolved where they can be (left as written where they cannot, e.g. outside Hydra). Long
    lines wrap, never cut; the plain text also goes to the run's log file (`train.log`)."""
    from rich.console import Console
    from rich.syntax import Syntax
    from rich.tree import Tree

    from graytransfer.console import console_width, to_log_files

    tree = Tree("CONFIG", style="dim", guide_style="dim")
    keys = [k for k in PRINT_ORDER if k in cfg] + [k for k in cfg if k not in PRINT_ORDER]
    for key in keys:
        branch = tree.add(str(key), style="bold", guide_style="dim")
        node = cfg._get_node(key)
        if isinstance(node, (DictConfig, ListConfig)):
            text = _to_yaml(node, resolve)
        else:
            text = str(_scalar(cfg, key, resolve))
        branch.add(Syntax(text.rstrip() or "{}", "yaml", word_wrap=True, theme="ansi_dark"))
    console = Console(width=console_width(), record=True)
    console.print(tree)
    to_log_files(console.export_text())


def _to_yaml(node: DictConfig | ListConfig, resolve: bool) -> str:
    try:
        return OmegaConf.to_yaml(node, resolve=resolve)
    except Exception:  # an interpolation that only resolves inside Hydra's runtime
        return OmegaConf.to_yaml(node, resolve=False)


def _scalar(cfg: DictConfig, key: str, resolve: bool) -> object:
    raw = cfg._get_node(key)._value()
    if not resolve:
        return raw
    try:
        return cfg[key]
    except Exception:  # as in _to_yaml
        return raw


def _rank() -> int:
    """This process' global rank as Lightning reads it, from the launcher's environment (0 when
    none), without importing Lightning."""
    for name in ("RANK", "LOCAL_RANK", "SLURM_PROCID", "JSM_NAMESPACE_RANK"):
        if name in os.environ:
            return int(os.environ[name])
    return 0
