"""Where the Lightning loop's time goes, by package (cProfile self time), for `bench.overhead`."""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig

from bench.loop import seed_all
from graytransfer.run import build_data_and_model

#: where profiled time goes: (label, path fragment) checked in order; C calls are `~`
PACKAGES = (
    ("lightning", "/lightning/"),
    ("torchmetrics", "/torchmetrics/"),
    ("graytransfer", "/graytransfer/"),
    ("timm", "/timm/"),
    ("torch (Python)", "/torch/"),
)


def profile_shares(cfg: DictConfig) -> dict[str, float]:
    """Share of the `trainer.fit` time of `cfg`'s run (no callbacks, no logger) spent in each
    package's own Python code (cProfile self time) and in C calls (the tensor work). Load slows
    all parts alike, so the shares hold on a busy machine; the profiler's per-call cost inflates
    the Python shares, making them upper bounds."""
    import cProfile
    import pstats

    shares: dict[str, float] = {}
    seed_all(cfg.seed)
    data, model = build_data_and_model(cfg, instantiate(cfg.model))
    trainer = instantiate(cfg.trainer, callbacks=[], logger=False)
    profiler = cProfile.Profile()
    profiler.enable()
    trainer.fit(model, datamodule=data)
    profiler.disable()
    for (file, _, _), (_, _, self_time, _, _) in pstats.Stats(profiler).stats.items():
        label = "C calls (tensor work)" if file == "~" else "other Python"
        for name, fragment in PACKAGES:
            if fragment in file.replace("\\", "/"):
                label = name
                break
        shares[label] = shares.get(label, 0.0) + self_time
    total = sum(shares.values()) or 1.0
    return {k: v / total for k, v in sorted(shares.items(), key=lambda kv: -kv[1])}
