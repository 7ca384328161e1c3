"""Fine-tuning controls on real training: freeze-then-unfreeze, layer decay, frozen BatchNorm
statistics, EMA, channels_last and torch.compile."""

from __future__ import annotations

from functools import partial

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.data import DataLoader, TensorDataset

from graytransfer.adapt.repeat import Repeat
from graytransfer.callbacks.freeze import FreezeBackbone
from graytransfer.errors import UserError
from graytransfer.model.backbone import Backbone
from graytransfer.model.classifier import GrayscaleClassifier
from graytransfer.model.finetune import FineTuning
from graytransfer.model.head import ClassifierHead
from graytransfer.model.schedule import WarmupCosine


def seeded_classifier(finetune: FineTuning | None = None, scheduler=None) -> GrayscaleClassifier:
    torch.manual_seed(0)
    return GrayscaleClassifier(
        backbone=Backbone("test_efficientnet", pretrained=False),
        adapt=Repeat(),
        head=partial(ClassifierHead, drop_rate=0.0),
        optimizer=partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.05),
        scheduler=scheduler,
        num_classes=2,
        finetune=finetune,
    )


def loader(n: int = 8) -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, 32, 32), dtype=torch.uint8, generator=generator)
    return DataLoader(TensorDataset(images, torch.arange(n) % 2), batch_size=4)


def fit(model: GrayscaleClassifier, callbacks: list, epochs: int, root) -> L.Trainer:
    trainer = L.Trainer(
        max_epochs=epochs,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=any(isinstance(c, ModelCheckpoint) for c in callbacks),
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=root,
    )
    trainer.fit(model, train_dataloaders=loader(), val_dataloaders=loader(4))
    return trainer


def state_copy(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


class Recorder(L.Callback):
    """Keeps the backbone's and the head's state at the end of every training epoch."""

    def __init__(self) -> None:
        self.backbone: list[dict[str, torch.Tensor]] = []
        self.head: list[dict[str, torch.Tensor]] = []
        self.trainable: list[bool] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.backbone.append(state_copy(pl_module.backbone))
        self.head.append(state_copy(pl_module.head))
        self.trainable.append(all(p.requires_grad for p in pl_module.backbone.parameters()))


@pytest.mark.parametrize("drop_grads", [False, True], ids=["requires_grad", "ddp_way"])
def test_freeze_then_unfreeze_really_freezes_and_unfreezes(tmp_path, drop_grads: bool) -> None:
    scheduler = partial(WarmupCosine, warmup_fraction=0.0)
    model = seeded_classifier(scheduler=scheduler)
    start_backbone, start_head = state_copy(model.backbone), state_copy(model.head)
    recorder = Recorder()
    freeze = FreezeBackbone(unfreeze_at_epoch=2, drop_grads=drop_grads)
    trainer = fit(model, [freeze, recorder], 3, tmp_path)
    groups_after = len(trainer.optimizers[0].param_groups)
    # epochs 0 and 1: backbone weights *and* BatchNorm statistics untouched, head trained
    assert same(recorder.backbone[0], start_backbone)
    assert same(recorder.backbone[1], start_backbone)
    assert not same(recorder.head[0], start_head)
    assert recorder.trainable == ([True] * 3 if drop_grads else [False, False, True])
    # epoch 2: the whole backbone trains, in the optimizer groups it had from the start
    changed = [
        k for k in start_backbone if not torch.equal(recorder.backbone[2][k], start_backbone[k])
    ]
    assert "conv_stem.weight" in changed and "bn1.running_mean" in changed
    assert all(model.backbone.get_parameter(k).requires_grad for k in ("conv_stem.weight",))
    assert groups_after == 1


def test_freeze_before_the_first_epoch_of_a_resumed_run_unfreezes_at_once() -> None:
    model = seeded_classifier()
    callback = FreezeBackbone(unfreeze_at_epoch=1)
    callback.freeze_before_training(model)
    optimizer = model.configure_optimizers()["optimizer"]
    assert not any(p.requires_grad for p in model.backbone.parameters())
    callback.finetune_function(model, epoch=5, optimizer=optimizer)
    assert all(p.requires_grad for p in model.backbone.parameters())


def test_negative_unfreeze_epoch_is_named() -> None:
    with pytest.raises(UserError, match="unfreeze_at_epoch: -1"):
        FreezeBackbone(unfreeze_at_epoch=-1)


def group_of(optimizer: torch.optim.Optimizer, param: torch.Tensor) -> dict:
    (group,) = [g for g in optimizer.param_groups if any(p is param for p in g["params"])]
    return group


def test_layer_decay_gives_earlier_layers_smaller_learning_rates() -> None:
    model = seeded_classifier(FineTuning(layer_decay=0.5))
    optimizer = model.configure_optimizers()["optimizer"]
    net = model.backbone
    lr = {
        "stem": group_of(optimizer, net.conv_stem.weight)["lr"],
        "block0": group_of(optimizer, next(net.blocks[0].parameters()))["lr"],
        "block2": group_of(optimizer, next(net.blocks[2].parameters()))["lr"],
        "last_block": group_of(optimizer, next(net.blocks[-1].parameters()))["lr"],
        "conv_head": group_of(optimizer, net.conv_head.weight)["lr"],
        "head": group_of(optimizer, model.head.classifier[-1].weight)["lr"],
    }
    assert lr["stem"] < lr["block0"] < lr["block2"] < lr["last_block"]
    # timm's grouping puts the last block and conv_head in the top layer, with the new head
    assert lr["last_block"] == lr["conv_head"] == lr["head"] == 1e-2
    assert lr["block0"] / lr["stem"] == pytest.approx(2.0)
    # every parameter once; no weight decay on biases and norms, the optimizer's on weights
    seen = [id(p) for g in optimizer.param_groups for p in g["params"]]
    assert sorted(seen) == sorted(id(p) for p in model.parameters())
    assert group_of(optimizer, net.bn1.weight)["weight_decay"] == 0.0
    assert group_of(optimizer, net.conv_stem.weight)["weight_decay"] == 0.05
    # the schedule scales every group alike: the ratios survive
    schedule = WarmupCosine(optimizer, total_steps=10, warmup_fraction=0.0)
    optimizer.step()
    schedule.step()
    stem, head = (
        group_of(optimizer, p)["lr"]
        for p in (net.conv_stem.weight, model.head.classifier[-1].weight)
    )
    assert stem / head == pytest.approx(lr["stem"] / lr["head"])


@pytest.mark.parametrize("value", [0.0, 1.5])
def test_layer_decay_out_of_range_is_named(value: float) -> None:
    with pytest.raises(UserError, match=f"finetune.layer_decay: {value}"):
        FineTuning(layer_decay=value)


def test_frozen_bn_stats_stay_fixed_while_bn_weights_train() -> None:
    model = seeded_classifier(FineTuning(freeze_bn_stats=True)).train()
    norms = [m for m in model.backbone.modules() if isinstance(m, _BatchNorm)]
    assert norms and not any(m.training for m in norms)
    before = state_copy(model.backbone)
    images, labels = next(iter(loader()))
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    after = state_copy(model.backbone)
    assert all(torch.equal(before[k], after[k]) for k in before if "running" in k)
    assert model.backbone.bn1.weight.grad is not None
    assert model.head.training and model.backbone.training


def test_ema_callback_from_config_averages_the_weights(make_cfg, tmp_path) -> None:
    cfg = make_cfg("callbacks=[default,ema]", "callbacks.ema.decay=0.5")
    ema = instantiate(cfg.callbacks.ema)

    class Steps(L.Callback):
        def __init__(self) -> None:
            self.weights: list[torch.Tensor] = []

        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            self.weights.append(pl_module.head.classifier[-1].weight.detach().clone())

    steps = Steps()
    model = seeded_classifier()
    last = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer = fit(model, [steps, ema, last], 1, tmp_path)
    expected = steps.weights[0]
    for weight in steps.weights[1:]:
        expected = 0.5 * expected + 0.5 * weight
    assert len(steps.weights) == 2
    torch.testing.assert_close(model.head.classifier[-1].weight, expected)
    assert not torch.equal(model.head.classifier[-1].weight, steps.weights[-1])

    # a checkpoint saved during fitting holds the average; testing it scores the average
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)
    averaged = saved["state_dict"]["head.classifier.1.weight"]
    raw = saved["current_model_state"]["head.classifier.1.weight"]
    assert not torch.equal(averaged, raw)
    with torch.no_grad():
        model.head.classifier[-1].weight.zero_()
    trainer.test(model, dataloaders=loader(4), ckpt_path=tmp_path / "last.ckpt", verbose=False)
    torch.testing.assert_close(model.head.classifier[-1].weight, averaged)


def test_channels_last_and_compile_compute_the_same(tmp_path) -> None:
    plain = seeded_classifier().eval()
    fast = seeded_classifier(
        FineTuning(channels_last=True, compile=True, compile_backend="eager")
    ).eval()
    assert fast.backbone.conv_head.weight.is_contiguous(memory_format=torch.channels_last)
    images, _ = next(iter(loader()))
    with torch.no_grad():
        torch.testing.assert_close(fast(images), plain(images), rtol=1e-4, atol=1e-5)
    assert len(fast.finetune._compiled) == 1


def test_pipeline_runs_with_every_control(make_cfg) -> None:
    from graytransfer.run import train

    cfg = make_cfg(
        "callbacks=[default,freeze_backbone,ema]",
        "callbacks.freeze_backbone.unfreeze_at_epoch=1",
        "finetune.layer_decay=0.75",
        "finetune.freeze_bn_stats=true",
        "finetune.channels_last=true",
        "label_smoothing=0.1",
        "logger=none",
    )
    info = train(cfg)
    assert 0.0 <= info["metrics"]["test/acc"] <= 1.0
