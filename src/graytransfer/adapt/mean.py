"""`mean`: like `sum`, but the stem kernels are averaged over RGB, a third of the scale. The first
activations are 3x smaller than the pretrained network expects; comparing `mean` with `sum` shows
whether that scale matters once BatchNorm and fine-tuning have their say."""

from __future__ import annotations

from graytransfer.adapt.collapse import CollapsedStem


class Mean(CollapsedStem):
    """Stem kernels averaged over their input channels; input normalised with one mean/std."""

    name = "mean"
    channel_weights = (1 / 3, 1 / 3, 1 / 3)
