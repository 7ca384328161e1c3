"""The per-batch cost of the framework (issue 28, item 1): `bench.profiling.ComponentTimer`
splits a fit by component and counts each one's host syncs; the run as shipped makes no host
sync per batch in its metric updates and `self.log`, and reads the progress bar's values at most
`metrics_per_second` times a second; the finiteness check of a model is one host sync."""

from __future__ import annotations

import json
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import RichProgressBar
from lightning.pytorch.demos.boring_classes import BoringModel

from bench import overhead
from bench.profiling import LOOP, STEP, ComponentTimer
from graytransfer.callbacks.nan_guard import first_non_finite
from graytransfer.callbacks.progress import CompactProgressBar
from graytransfer.task.multiclass import classification_metrics

TINY_MODEL = ["model=timm", "model.name=test_efficientnet", "model.pretrained=false"]
BATCHES = 4


class SlowSyncingHook(L.Callback):
    """Sleeps 20 ms and reads one tensor value (`.item()`) after every training batch."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        time.sleep(0.02)
        torch.ones(1).item()


def test_component_timer_charges_each_hook_to_its_callback_with_its_syncs(tmp_path: Path) -> None:
    """Catches a split that loses a callback's time, counts it twice or misses its syncs."""
    out = tmp_path / "split.json"
    trainer = L.Trainer(
        default_root_dir=tmp_path,
        accelerator="cpu",
        max_epochs=1,
        limit_train_batches=BATCHES,
        limit_val_batches=0,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        callbacks=[SlowSyncingHook(), ComponentTimer(str(out))],
    )
    trainer.fit(BoringModel())
    split = json.loads(out.read_text())
    parts = split["components"]
    assert split["batches"] == BATCHES and split["epochs"] == 1
    hook = parts["callback SlowSyncingHook"]
    assert 0.02 * BATCHES <= hook["seconds"] < 0.02 * BATCHES + 0.5
    assert hook["syncs_per_batch"] == 1.0
    assert parts[STEP]["seconds"] > 0 and LOOP in parts
    assert sum(p["seconds"] for p in parts.values()) == pytest.approx(split["fit_s"], rel=1e-6)
    assert torch.Tensor.item is not None and "counted" not in torch.Tensor.item.__name__


def test_the_shipped_run_makes_no_host_sync_per_batch_in_metrics_and_logging(
    tmp_path: Path,
) -> None:
    """Catches a per-step metric update or `self.log` that reads a tensor value on the host
    (e.g. torchmetrics' per-update argument validation) and a progress bar reading the logged
    values after every batch: each stalls a GPU step. The run is `train.py` as shipped
    (`--modes user`), tiny."""
    payload = overhead.main(
        [
            "--modes=user",
            "--split",
            "--epochs=1",
            "--reps=1",
            "--warmup=0",
            f"--limit-batches={BATCHES * 2}",
            "--threads=1",
            f"--out={tmp_path / 'overhead.json'}",
            *TINY_MODEL,
            "data.image_size=16",
            "data.batch_size=8",
            # a bar that wants its values at most once a minute: only the first read happens
            "++callbacks.rich_progress_bar.metrics_per_second=0.0167",
        ]
    )
    parts = payload["split"]["user"]["components"]
    # one, on the CPU only: torchmetrics' check whether AUROC's inputs are already
    # probabilities (`normalize_logits_if_needed`) reads a value on the CPU and uses
    # `torch.where` without a sync on a GPU
    assert parts["per-step metric updates (torchmetrics)"]["syncs_per_batch"] <= 1
    assert parts["self.log (per step and epoch)"]["syncs_per_batch"] == 0
    bar = parts.get("callback CompactProgressBar")
    assert bar is not None and bar["syncs_per_batch"] <= 2 / (BATCHES * 2)
    assert {"callback NanGuard", "callback ResumableCheckpoint"} <= set(parts)
    assert payload["summary"]["user_cpu_cycle_ratio"] > 0


def test_the_per_step_metrics_skip_torchmetrics_value_validation() -> None:
    """Catches per-update argument validation (`torch.unique` and comparisons of the values on
    every update: host syncs on a GPU) coming back; the labels are checked by the loss."""
    metrics = classification_metrics(10, "train/")
    assert metrics and all(m.validate_args is False for m in metrics.values())


def test_the_progress_bar_reads_its_values_at_most_metrics_per_second(monkeypatch) -> None:
    """Catches a bar that reads the logged values (a host sync each) after every batch."""
    reads = []
    monkeypatch.setattr(RichProgressBar, "_update_metrics", lambda self, t, m: reads.append(1))
    bar = CompactProgressBar(metrics_per_second=1e-3)
    bar.disable()
    for index in range(5):
        bar.on_train_batch_end(None, None, None, None, index)
    assert len(reads) == 1
    bar._update_metrics(None, None)  # outside a training batch (epoch end): always
    assert len(reads) == 2
    every = CompactProgressBar(metrics_per_second=0)  # 0: after every batch
    every.disable()
    for index in range(3):
        every.on_train_batch_end(None, None, None, None, index)
    assert len(reads) == 5


def test_first_non_finite_names_the_first_bad_tensor_in_one_host_sync(monkeypatch) -> None:
    """Catches a finiteness check that reads one value per tensor (hundreds of host syncs per
    check) or names the wrong tensor."""
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))
    assert first_non_finite(model) is None
    model[1].running_var.fill_(float("inf"))
    model[0].bias.data[1] = float("nan")
    calls = []
    for name in ("item", "tolist", "__bool__"):
        original = getattr(torch.Tensor, name)

        def counted(tensor, *args, _original=original, **kwargs):
            calls.append(1)
            return _original(tensor, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    assert first_non_finite(model) == "0.bias"
    assert len(calls) == 1
