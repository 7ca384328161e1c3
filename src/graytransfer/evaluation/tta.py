"""Test-time augmentation: `eval.tta=[hflip]` (evaluate, predict) scores every image as it is and
flipped, and averages the probabilities of the views (`graytransfer.evaluation.ensemble.
AveragedClassifier` does the averaging, over members and views alike).

The image itself is always one of the views; `eval.tta` lists the extra ones: `hflip` (mirror left
to right), `vflip` (upside down). `[]` (the default) is no augmentation: the scores are exactly
the model's. The flips act on the stored integer images (N, 1, H, W), before the model's input
module, so they hold for every dtype and intensity mapping.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from graytransfer.errors import UserError

if TYPE_CHECKING:  # torch loads after the command line
    import torch


def _hflip(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-1)


def _vflip(images: torch.Tensor) -> torch.Tensor:
    return images.flip(-2)


#: the extra views `eval.tta` may name, each a function of a (N, 1, H, W) batch
VIEWS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"hflip": _hflip, "vflip": _vflip}


def tta_views(names: Sequence[str] | str | None) -> list[str]:
    """The checked, de-duplicated list of extra views (`eval.tta`): one line naming the unknown
    one and the known ones otherwise. None or `[]`: no augmentation."""
    if names is None:
        return []
    if isinstance(names, str):
        names = [names]
    chosen: list[str] = []
    for name in names:
        if str(name) not in VIEWS:
            raise UserError(
                f"eval.tta: '{name}' is not a known augmentation; known: {', '.join(VIEWS)} "
                "(e.g. eval.tta=[hflip], or [] for none)"
            )
        if str(name) not in chosen:
            chosen.append(str(name))
    return chosen


def views_of(images: torch.Tensor, names: Sequence[str]) -> list[torch.Tensor]:
    """The batch itself, then each named view of it."""
    return [images, *(VIEWS[name](images) for name in names)]


def tta_of(cfg: Any) -> list[str]:
    """`cfg.eval.tta` of a tool's config, checked (no `eval` or no `tta`: none)."""
    section = cfg.get("eval") if cfg is not None else None
    return tta_views(None if section is None else section.get("tta"))


def without_tta(eval_cfg: Any) -> Any:
    """The `eval` config less its `tta` key: what conf/eval/'s `_target_` (the bootstrap) takes.
    TTA is applied by the tools before the test (the model they test averages the views)."""
    if eval_cfg is None or "tta" not in eval_cfg:
        return eval_cfg
    from omegaconf import OmegaConf

    return OmegaConf.masked_copy(eval_cfg, [k for k in eval_cfg if k != "tta"])
