"""graytransfer.run.extras (conf/extras/): each ignore_warnings filter removes its own upstream
warning and nothing else; enforce_tags refuses an empty tag list in one line; print_config prints
the composed config as a tree; and the model summary drops only an all-zero FLOPs column."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
import pytest
import wandb
from helpers.configs import compose_config
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.utilities._pytree import _tree_flatten
from lightning.pytorch.utilities.model_summary import summarize
from wandb.errors import term

from graytransfer.callbacks.summary import ModelSummary
from graytransfer.errors import UserError
from graytransfer.run import extras
from graytransfer.run.extras import (
    LEAFSPEC_DEPRECATION,
    LIGHTNING_RANK_ZERO_LOGGER,
    LITLOGGER_TIP,
    OWN_SUMMARY_NOTE,
    WANDB_ANONYMOUS,
    apply_extras,
    enforce_tags,
    ignore_warnings,
    print_config,
)

LIGHTNING_LOGGERS = ("lightning", "lightning.pytorch", LIGHTNING_RANK_ZERO_LOGGER)
TERM_STATE = ("_silent", "_logger", "_show_info", "_show_warnings", "_show_errors")


@pytest.fixture
def fresh_filters():
    """Each test starts with none of ignore_warnings' filters and leaves none behind: warning
    filters restored, the log filter removed, W&B's printed-once set as it was."""
    rank_zero = logging.getLogger(LIGHTNING_RANK_ZERO_LOGGER)
    # an earlier test (a benchmark run in-process) may have quietened Lightning to WARNING, or a
    # logging set-up disabled or detached its loggers: start from Lightning's import-time state
    lightning_state = {}
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        lightning_state[name] = (logger.level, logger.disabled, logger.propagate)
        logger.setLevel(logging.INFO if name == "lightning.pytorch" else logging.NOTSET)
        logger.disabled = False
    before = list(rank_zero.filters)
    rank_zero.filters = [f for f in before if not isinstance(f, extras._DropMessages)]
    printed = set(term._printed_messages)
    term._printed_messages.clear()
    # an in-process run earlier in the session may have set W&B's terminal output up (silent, a
    # logger instead of stderr): start from W&B's import-time defaults
    term_state = {name: getattr(term, name) for name in TERM_STATE}
    term.termsetup(wandb.Settings(silent=False), None)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        yield
    rank_zero.filters = before
    for name, (level, disabled, propagate) in lightning_state.items():
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.disabled, logger.propagate = disabled, propagate
    for name, value in term_state.items():
        setattr(term, name, value)
    term._printed_messages.clear()
    term._printed_messages.update(printed)


def leafspec_and_other_warnings() -> list[str]:
    """Lightning flattening a logged dict (torch 2.14 warns about LeafSpec), then another
    FutureWarning: the messages that got through."""
    with warnings.catch_warnings(record=True) as caught:
        _tree_flatten({"loss": 1.0})
        warnings.warn("an unrelated FutureWarning", FutureWarning, stacklevel=1)
    return [str(w.message) for w in caught]


def test_the_leafspec_deprecation_is_the_only_warning_removed(fresh_filters) -> None:
    assert leafspec_and_other_warnings() == [LEAFSPEC_DEPRECATION, "an unrelated FutureWarning"]
    ignore_warnings()
    assert leafspec_and_other_warnings() == ["an unrelated FutureWarning"]


def lightning_start_messages(caplog, **trainer_args) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.INFO):
        L.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, **trainer_args)
    return [r.getMessage() for r in caplog.records]


def test_the_litlogger_tip_is_the_only_lightning_message_removed(fresh_filters, caplog) -> None:
    before = lightning_start_messages(caplog)
    assert any(m.startswith(LITLOGGER_TIP) for m in before)
    ignore_warnings()
    after = lightning_start_messages(caplog)
    assert after == [m for m in before if not m.startswith(LITLOGGER_TIP)]
    assert any("GPU available" in m for m in after)


def test_lightnings_note_about_our_summary_is_removed_only_for_ours(fresh_filters, caplog):
    ignore_warnings()
    ours = lightning_start_messages(caplog, callbacks=[ModelSummary()])
    assert not any(m.startswith(OWN_SUMMARY_NOTE) for m in ours)
    theirs = lightning_start_messages(caplog, callbacks=[L.pytorch.callbacks.RichModelSummary()])
    assert any("already configured with model summary callbacks" in m for m in theirs)


def test_the_wandb_anonymous_warning_is_the_only_wandb_warning_removed(fresh_filters, capfd):
    wandb.Settings(anonymous=None)  # what Lightning's WandbLogger passes on every run
    assert WANDB_ANONYMOUS in capfd.readouterr().err
    term._printed_messages.clear()
    ignore_warnings()
    wandb.Settings(anonymous=None)
    wandb.termwarn("another warning", repeat=False)
    err = capfd.readouterr().err
    assert WANDB_ANONYMOUS not in err and "another warning" in err


def summary_printed(capsys, model: L.LightningModule, **options) -> str:
    summary = summarize(model, max_depth=1)
    callback = ModelSummary(**options)
    callback.summarize(
        summary._get_summary_data(),
        summary.total_parameters,
        summary.trainable_parameters,
        summary.model_size,
        summary.total_training_modes,
        summary.total_flops,
        **callback._summarize_kwargs,
    )
    return capsys.readouterr().out


def test_the_summary_drops_only_an_all_zero_flops_column(capsys) -> None:
    plain = BoringModel()  # no example_input_array: Lightning counts no FLOPs
    dropped = summary_printed(capsys, plain)
    assert "FLOPs" not in dropped
    assert "layer" in dropped and "Total params" in dropped and "Params" in dropped
    kept = summary_printed(capsys, plain, drop_zero_flops=False)
    assert "FLOPs" in kept and "Total FLOPs: 0" in kept
    measured = BoringModel()
    measured.example_input_array = measured.layer.weight.new_zeros(2, 32)
    counted = summary_printed(capsys, measured)
    assert "FLOPs" in counted and "Total FLOPs: 0" not in counted


def test_ignore_warnings_false_keeps_the_flops_column(tmp_path: Path) -> None:
    on = compose_config([], tmp_path / "a")
    off = compose_config(["extras.ignore_warnings=false"], tmp_path / "b")
    assert on.callbacks.model_summary.drop_zero_flops is True
    assert off.callbacks.model_summary.drop_zero_flops is False


@pytest.mark.parametrize("tags", [None, [], ()])
def test_enforce_tags_refuses_an_empty_list_in_one_line(tags) -> None:
    with pytest.raises(UserError) as info:
        enforce_tags(tags)
    message = str(info.value)
    assert "\n" not in message and message.startswith("tags: empty while extras.enforce_tags")
    assert "tags=[" in message and "extras.enforce_tags=false" in message


def test_enforce_tags_is_off_by_default_and_on_when_asked(tmp_path: Path) -> None:
    quiet = ["extras.print_config=false", "extras.ignore_warnings=false"]
    apply_extras(compose_config(quiet, tmp_path / "a"))  # default: no tags needed
    with pytest.raises(UserError, match="^tags: empty"):
        apply_extras(compose_config([*quiet, "extras.enforce_tags=true"], tmp_path / "b"))
    apply_extras(compose_config([*quiet, "extras.enforce_tags=true", "tags=[x]"], tmp_path / "c"))


def test_print_config_prints_the_tree_with_values_resolved(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.setenv("COLUMNS", "500")  # a long tmp path fits on one line: no wrap to undo
    cfg = compose_config(["adapt=sum", "seed=7"], tmp_path / "run")
    print_config(cfg)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "CONFIG"
    branches = [line.split()[-1] for line in lines if line.startswith(("├── ", "└── "))]
    assert branches[:3] == ["data", "model", "adapt"]  # the order people look for
    assert set(cfg) == set(branches)  # every top-level key, once
    assert "graytransfer.adapt.Sum" in out
    assert str(tmp_path / "run" / "checkpoints") in out  # interpolations resolved


def test_print_config_is_on_by_default_and_only_on_rank_zero(tmp_path, capsys, monkeypatch):
    cfg = compose_config(["extras.ignore_warnings=false"], tmp_path / "run")
    apply_extras(cfg)
    assert capsys.readouterr().out.startswith("CONFIG")
    monkeypatch.setenv("LOCAL_RANK", "1")
    apply_extras(cfg)
    assert capsys.readouterr().out == ""
    cfg.extras.print_config = False
    monkeypatch.delenv("LOCAL_RANK")
    apply_extras(cfg)
    assert capsys.readouterr().out == ""


def test_every_named_noise_is_listed() -> None:
    assert set(extras.KNOWN_NOISE) == {
        "wandb-anonymous",
        "torch-leafspec",
        "lightning-litlogger-tip",
        "lightning-summary-zero-flops",
        "lightning-own-summary-note",
    }
