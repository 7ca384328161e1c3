"""`sum`: a 1-channel stem whose kernels are the sum of the RGB kernels (timm's
`adapt_input_conv`, fastai, segmentation_models_pytorch). With one mean/std for the gray image
it computes exactly what `repeat` computes, with a third of the stem's MACs and input bytes."""

from __future__ import annotations

from graytransfer.adapt.collapse import CollapsedStem


class Sum(CollapsedStem):
    """Stem kernels summed over their input channels; input normalised with one mean/std."""

    name = "sum"
    channel_weights = (1.0, 1.0, 1.0)
