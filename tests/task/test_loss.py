"""Multi-label BCE: unknown labels masked (data.uncertain=ignore), pos_weight from training
frequencies (data.balance=loss); binary: one logit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from graytransfer.data.labels import positive_weights
from graytransfer.task import BinaryTask, MultiLabelTask


def batch():
    torch.manual_seed(0)
    logits = torch.randn(6, 3, requires_grad=True)
    labels = torch.tensor([[1, 0, -1], [0, 1, 1], [-1, -1, 0], [1, 1, 0], [0, 0, 0], [1, -1, 1]])
    return logits, labels


def test_unknown_labels_add_nothing_to_the_loss_or_its_gradient() -> None:
    logits, labels = batch()
    loss = MultiLabelTask().loss(logits, labels, None, 0.0)
    known = labels >= 0
    expected = F.binary_cross_entropy_with_logits(logits[known], labels[known].float())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    loss.backward()
    assert (logits.grad[~known] == 0).all() and (logits.grad[known] != 0).all()
    moved = logits.detach().clone()
    moved[~known] += 5.0  # whatever the model says about an unknown label costs nothing
    assert MultiLabelTask().loss(moved, labels, None, 0.0).item() == pytest.approx(loss.item())


def test_pos_weight_is_negatives_over_positives_and_weights_the_bce() -> None:
    logits, labels = batch()
    weights = positive_weights(labels)
    assert weights == pytest.approx([2 / 3, 1.0, 3 / 2])  # known negatives / positives
    pos_weight = torch.tensor(weights)
    loss = MultiLabelTask().loss(logits, labels, pos_weight, 0.0)
    known = labels >= 0
    full = F.binary_cross_entropy_with_logits(
        logits, labels.clamp(min=0).float(), pos_weight=pos_weight, reduction="none"
    )
    assert loss.item() == pytest.approx(full[known].mean().item(), rel=1e-6)


def test_binary_has_one_logit_and_its_pos_weight_comes_from_the_class_weights() -> None:
    task = BinaryTask()
    assert task.outputs(2) == 1 and task.output_names(["normal", "pneumonia"]) == ["pneumonia"]
    logits = torch.tensor([[0.3], [-1.0], [2.0]])
    labels = torch.tensor([1, 0, 1])
    class_weights = torch.tensor([0.75, 1.5])  # inverse frequency: 2 normals per pneumonia
    loss = task.loss(logits, labels, class_weights, 0.0)
    expected = F.binary_cross_entropy_with_logits(
        logits, labels.float().reshape(-1, 1), pos_weight=torch.tensor([2.0])
    )
    assert loss.item() == pytest.approx(expected.item())
