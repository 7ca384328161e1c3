"""bench.shard_inputs: the generated images are distinct and at their bit depth; the hand-off
floor's items are fresh copies of one ready image."""

from __future__ import annotations

from bench import shard_inputs


def test_generated_images_are_distinct_and_at_their_depth() -> None:
    images = shard_inputs.Generated(8, 16, 16)
    first, second = images[0][0], images[2][0]
    assert first.dtype.is_floating_point is False and str(first.dtype) == "torch.uint16"
    assert first.shape == (1, 16, 16) and not bool((first == second).all())
    assert images.labels.tolist() == [0, 1] * 4


def test_the_handoff_items_are_copies_of_one_image_with_alternating_labels() -> None:
    items = shard_inputs.ReadyImages(4, 16, 16)
    (first, label0), (second, label1) = items[0], items[1]
    assert len(items) == 4 and (label0, label1) == (0, 1)
    assert first.shape == (1, 16, 16) and str(first.dtype) == "torch.uint16"
    assert bool((first == second).all()) and first.data_ptr() != second.data_ptr()
