"""`luma`: the stem kernels weighted by the ITU-R BT.601 luma coefficients (0.299 R + 0.587 G +
0.114 B, the weights that made the gray image from a colour one) and rescaled by 3, so that the
kernel keeps the magnitude of `sum` while leaning on the green-sensitive filters."""

from __future__ import annotations

from graytransfer.adapt.collapse import CollapsedStem

BT601 = (0.299, 0.587, 0.114)


class Luma(CollapsedStem):
    """Stem kernel `3 * sum_c luma_c * W_c`; input normalised with one mean/std."""

    name = "luma"
    channel_weights = tuple(3.0 * c for c in BT601)
