"""How hard is `data=textures`? Cheap scikit-learn baselines on the module's own splits.

Logistic regression on the raw patch pixels (standardised) and on a 32-bin intensity histogram
per patch, trained on the train split, scored on the test split (the photos' right-most band,
never seen in training). A baseline near 100% would mean the task cannot tell strategies apart.

    python -m bench.textures_baseline --out bench/results/cpu/textures_baseline.json
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.common import machine_info, now, report, run_cli
from graytransfer.data import TexturesDataModule


def features(images: np.ndarray, kind: str) -> np.ndarray:
    """(N, 1, H, W) uint8 -> (N, F): the pixels, or a 32-bin intensity histogram (fractions)."""
    flat = images.reshape(len(images), -1)
    if kind == "pixels":
        return flat.astype(np.float32)
    return np.stack([np.bincount(row // 8, minlength=32) / row.size for row in flat])


def main() -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("outputs/bench/textures_baseline.json"))
    args = parser.parse_args()
    data = TexturesDataModule(seed=args.seed)
    data.setup()
    sets = {
        name: (s.images.numpy(), s.labels.numpy())
        for name, s in (("train", data.train_set), ("test", data.test_set))
    }
    rows = []
    for kind in ("pixels", "histogram"):
        start = now()
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        model.fit(features(sets["train"][0], kind), sets["train"][1])
        rows.append(
            {
                "features": kind,
                "train_acc": model.score(features(sets["train"][0], kind), sets["train"][1]),
                "test_acc": model.score(features(sets["test"][0], kind), sets["test"][1]),
                "seconds": now() - start,
            }
        )
    notes = [f"{data.describe()}; classes {data.class_names}; chance {1 / data.num_classes:.3f}"]
    columns = ["features", "train_acc", "test_acc", "seconds"]
    settings = {"seed": args.seed, "data": "conf/data/textures.yaml defaults"}
    return report("textures_baseline", machine_info("cpu"), settings, rows, columns, args.out,
                  notes=notes)  # fmt: skip


if __name__ == "__main__":
    run_cli(main)
