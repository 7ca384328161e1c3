"""A stage's metrics take the epoch's batches in one update at the epoch's end (not one per
step): each epoch's logged train metrics are those of exactly that epoch's batches, as the model
scored them while training, and a fit after an interrupted one starts from an empty epoch.
Checked with a real timm model under a real Lightning Trainer, against a reference built from
the logits the head returned during training (a forward hook) and fresh metrics of the task.
The training loss: logged on the steps the loggers write, and each epoch's weighted mean."""

from __future__ import annotations

import csv
import functools

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from graytransfer.adapt import Repeat
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.head import ClassifierHead

NAMES = ["a", "b", "c"]
KEYS = ("train/acc", "train/auroc", "train/f1")


def make_model() -> GrayscaleClassifier:
    torch.manual_seed(0)
    return GrayscaleClassifier(
        backbone=Backbone("test_efficientnet", pretrained=False),
        adapt=Repeat(),
        head=functools.partial(ClassifierHead),
        optimizer=functools.partial(torch.optim.SGD, lr=0.5),
        num_classes=3,
        class_names=NAMES,
    )


def loader() -> DataLoader:
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (12, 1, 16, 16), dtype=torch.uint8, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 2, 1])
    return DataLoader(TensorDataset(images, labels), batch_size=4, shuffle=False)


class Recorder(L.Callback):
    """Per epoch: the logits the head gave each training batch, the batch labels, and the train
    metrics logged for that epoch (read when the next epoch starts, or when training ends)."""

    def __init__(self, model: GrayscaleClassifier, stop_at_batch: int | None = None) -> None:
        self.logits: list[list[torch.Tensor]] = []
        self.labels: list[list[torch.Tensor]] = []
        self.logged: list[dict[str, float]] = []
        self.stop_at_batch = stop_at_batch
        model.head.register_forward_hook(self._keep_logits)

    def _keep_logits(self, module, inputs, output) -> None:
        if module.training:
            self.logits[-1].append(output.detach().clone())

    def _read_logged(self, trainer: L.Trainer) -> None:
        metrics = trainer.callback_metrics
        self.logged.append({key: float(metrics[key]) for key in KEYS})

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.logits:
            self._read_logged(trainer)
        self.logits.append([])
        self.labels.append([])

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if batch_idx == self.stop_at_batch:
            raise KeyboardInterrupt  # Lightning stops the fit gracefully, as on Ctrl-C
        self.labels[-1].append(batch[1].clone())

    def on_train_end(self, trainer, pl_module) -> None:
        self._read_logged(trainer)


def reference(model: GrayscaleClassifier, logits: list[torch.Tensor], labels: list[torch.Tensor]):
    """The task's metrics of one epoch's logits, fed to fresh metrics in one go."""
    metrics = model.task.metrics(NAMES, "train/")
    probs = model.task.probabilities(torch.cat(logits))
    model.task.update(metrics, probs, torch.cat(labels))
    values, _ = model.task.compute(metrics, None, choose=False)
    return {key: float(values[key]) for key in KEYS}


def fit(model: GrayscaleClassifier, callback: Recorder, epochs: int) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[callback],
    )
    trainer.fit(model, train_dataloaders=loader())
    return trainer


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_each_epochs_train_metrics_are_those_of_its_own_batches() -> None:
    model = make_model()
    recorder = Recorder(model)
    fit(model, recorder, epochs=3)
    assert len(recorder.logged) == 3
    epochs = zip(recorder.logits, recorder.labels, strict=True)
    expected = [reference(model, logits, labels) for logits, labels in epochs]
    assert expected[0] != expected[2]  # the model learns: epochs differ, so a leak would show
    for epoch, (logged, wanted) in enumerate(zip(recorder.logged, expected, strict=True)):
        assert logged == pytest.approx(wanted, abs=1e-6), f"epoch {epoch}"


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_fit_after_an_interrupted_one_scores_only_its_own_batches() -> None:
    model = make_model()
    interrupted = Recorder(model, stop_at_batch=2)
    with pytest.raises(SystemExit):  # Lightning's graceful shutdown after a Ctrl-C
        fit(model, interrupted, epochs=1)
    assert len(interrupted.labels[0]) == 2  # two batches were trained, the epoch left unfinished
    recorder = Recorder(model)
    fit(model, recorder, epochs=1)
    wanted = reference(model, recorder.logits[0], recorder.labels[0])
    assert recorder.logged[0] == pytest.approx(wanted, abs=1e-6)


class LossRecorder(L.Callback):
    """Each training step's loss and batch size (from the step's output), per epoch, and the
    epoch's `train/loss` as the callback metrics hold it when the next epoch starts or training
    ends."""

    def __init__(self) -> None:
        self.steps: list[list[tuple[float, int]]] = []
        self.epoch_losses: list[dict[str, float]] = []

    def _read(self, trainer: L.Trainer) -> None:
        metrics = trainer.callback_metrics
        self.epoch_losses.append({k: float(metrics[k]) for k in ("train/loss", "train/loss_epoch")})

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self.steps:
            self._read(trainer)
        self.steps.append([])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.steps[-1].append((float(outputs["loss"]), int(batch[1].shape[0])))

    def on_train_end(self, trainer, pl_module) -> None:
        self._read(trainer)


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_the_train_loss_is_logged_on_the_written_steps_and_as_each_epochs_weighted_mean(
    tmp_path,
) -> None:
    """`self.log` of the step loss runs only on the steps the loggers write (every
    `log_every_n_steps`-th, and each epoch's last, for the progress bar); the file logger gets
    each of those steps' own loss; the epoch's loss is the batch-size weighted mean of its steps
    (10 images in batches of 4, 4, 2)."""
    model = make_model()
    logged_steps = []
    log = model.log

    def counting_log(name, *args, **kwargs):
        if name == "train/loss_step":
            logged_steps.append(model.global_step)
        return log(name, *args, **kwargs)

    model.log = counting_log
    recorder = LossRecorder()
    trainer = L.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=L.pytorch.loggers.CSVLogger(tmp_path, name="csv"),
        log_every_n_steps=2,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
        callbacks=[recorder],
    )
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (10, 1, 16, 16), dtype=torch.uint8, generator=gen)
    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 0, 1, 2])
    trainer.fit(model, DataLoader(TensorDataset(images, labels), batch_size=4))

    # steps 0-5 (3 a epoch): written every 2nd (1, 3, 5); each epoch's last (2, 5) for the bar
    assert logged_steps == [1, 2, 3, 5]
    step_losses = [loss for epoch in recorder.steps for loss, _ in epoch]
    text = (tmp_path / "csv" / "version_0" / "metrics.csv").read_text()
    rows = list(csv.DictReader(text.splitlines()))
    written = {int(r["step"]): float(r["train/loss_step"]) for r in rows if r["train/loss_step"]}
    assert written == pytest.approx({step: step_losses[step] for step in (1, 3, 5)}, abs=1e-6)
    epoch_rows = [float(r["train/loss_epoch"]) for r in rows if r["train/loss_epoch"]]
    assert len(recorder.epoch_losses) == len(epoch_rows) == 2
    for epoch, steps in enumerate(recorder.steps):
        assert [size for _, size in steps] == [4, 4, 2]
        mean = sum(loss * size for loss, size in steps) / 10
        assert recorder.epoch_losses[epoch]["train/loss"] == pytest.approx(mean, abs=1e-6)
        assert recorder.epoch_losses[epoch]["train/loss_epoch"] == pytest.approx(mean, abs=1e-6)
        assert epoch_rows[epoch] == pytest.approx(mean, abs=1e-6)
