"""`python -m graytransfer.tools.compare a=A b=B`: two models on the same test images, with the
paired difference B - A of every headline metric and its interval.

`a` and `b` are each what evaluate's `ckpt_path` takes: a checkpoint, a list of checkpoints or a
CV sweep folder (an ensemble, `graytransfer.evaluation.ensemble`); `eval.tta` applies to both.
The test images are the test split of A's stored data config (its seed: the same split), at A's
image size; B must have A's classes, image size, task and input dtype, else one line says what
differs. Both are scored on those images (`device`: auto, cpu or cuda), then
`graytransfer.evaluation.paired` gives, per metric, A, B, B - A and its paired-bootstrap interval
(`eval.bootstrap` resamples, `eval.seed`, `eval.confidence`, over groups when the data has a group
column) and DeLong's test for AUROC. Printed as a table and written to `compare.json` in the
tool's own run folder (outputs/compare/runs/<time>/).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.utils import instantiate
from omegaconf import DictConfig

from graytransfer.atomic import write_text_atomic
from graytransfer.cli import hydra_entry
from graytransfer.config import check_missing
from graytransfer.errors import UserError

if TYPE_CHECKING:  # torch loads in `compare`, after the command line
    from graytransfer.evaluation.predictions import Predictions
    from graytransfer.model.restore import TrainedModel

RESULT = "compare.json"
DEVICES = ("auto", "cpu", "cuda")


def score(trained: TrainedModel, data: Any, batch_size: int, device: str) -> Predictions:
    """Every test image of `data` scored by `trained`: probabilities in the test split's order,
    decisions at the model's thresholds."""
    import torch
    from torch.utils.data import DataLoader

    from graytransfer.evaluation.ensemble import AveragedClassifier
    from graytransfer.evaluation.predictions import Predictions, groups_of

    model = trained.model.to(device).eval()
    probs, labels = [], []
    with torch.inference_mode():
        for images, targets in DataLoader(data.test_set, batch_size=batch_size, shuffle=False):
            images = images.to(device)
            if isinstance(model, AveragedClassifier):
                out = model.probabilities(images)
            else:
                out = model.task.probabilities(model(images))
            probs.append(out.float().cpu())
            labels.append(targets)
    ids = [str(i) for i in data.test_set.ids]
    return Predictions(
        task=trained.task,
        names=trained.output_names,
        class_names=list(data.class_names),
        probs=torch.cat(probs).numpy(),
        labels=torch.cat(labels).numpy(),
        ids=ids,
        thresholds=trained.thresholds,
        groups=groups_of(ids, getattr(data, "groups", None)),
    )


def describe(trained: TrainedModel) -> dict[str, Any]:
    """What the record says about one side: its checkpoint(s), model, strategy, thresholds."""
    info = {
        "checkpoint": str(trained.source),
        "model": trained.model_name,
        "strategy": trained.strategy,
        "thresholds": trained.thresholds,
    }
    if hasattr(trained, "describe"):
        info["ensemble"] = trained.describe()
    return info


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device: 'cuda' was asked for but torch sees no CUDA device; use cpu")
    return name


def table(result: dict[str, Any]) -> str:
    """The console summary: one line per metric with A, B, B - A and its interval, then
    DeLong's tests."""
    lines = [f"{'metric':<32} {'A':>8} {'B':>8} {'B - A':>8}  95% CI (paired bootstrap)"]
    for name, row in result["metrics"].items():
        ci = row["diff_ci"]
        span = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci else "n/a"
        lines.append(f"{name:<32} {row['a']:8.4f} {row['b']:8.4f} {row['diff']:+8.4f}  {span}")
    for name, test in result["delong"].items():
        low, high = test["ci"]
        lines.append(
            f"DeLong {name}: B - A = {test['diff']:+.4f} [{low:+.4f}, {high:+.4f}], "
            f"p = {test['p_value']:.4g}"
        )
    return "\n".join(lines)


def compare(cfg: DictConfig) -> dict[str, Any]:
    """Score `cfg.a` and `cfg.b` on A's test split and write `compare.json`; the record.
    `a` or `b` left at ??? stops it in one line before torch is imported."""
    check_missing(cfg)
    device_name = str(cfg.get("device", "auto"))
    if device_name not in DEVICES:
        raise UserError(f"device: '{device_name}' is not one of {list(DEVICES)}")
    start = time.perf_counter()
    from graytransfer.evaluation.bootstrap import Bootstrap
    from graytransfer.evaluation.ensemble import check_agree
    from graytransfer.evaluation.paired import compare_predictions
    from graytransfer.evaluation.tta import tta_of, without_tta
    from graytransfer.run.checkpoints import load_model
    from graytransfer.tools.evaluate import test_data

    tta = tta_of(cfg)
    a, b = load_model(cfg.a, tta), load_model(cfg.b, tta)
    check_agree([a, b], key="b", why="compare scores both on A's test images")
    data = test_data(cfg, a)
    device = resolve_device(device_name)
    batch_size = int(cfg.get("batch_size", 256))
    scored_a, scored_b = (score(m, data, batch_size, device) for m in (a, b))
    eval_cfg = without_tta(cfg.get("eval"))
    bootstrap: Bootstrap = instantiate(eval_cfg) if eval_cfg else Bootstrap()
    seed = cfg.get("seed") if cfg.get("seed") is not None else a.config.get("seed")
    result = {
        "a": describe(a),
        "b": describe(b),
        "data": data.describe(),
        "tta": tta,
        **compare_predictions(scored_a, scored_b, bootstrap, seed),
    }
    result["seconds"] = round(time.perf_counter() - start, 2)
    output = Path(cfg.paths.output_dir) / RESULT
    write_text_atomic(output, json.dumps(result, indent=2, default=float) + "\n")
    print(table(result))
    print(f"compared on {result['images']} test images in {result['seconds']} s; wrote {output}")
    return result


main = hydra_entry("compare", compare)


if __name__ == "__main__":
    main()
