"""Train a grayscale classifier: `python train.py adapt=repeat model=b5`, sweeps with `-m`."""

import sys

import hydra
from omegaconf import DictConfig

from graytransfer.errors import UserError
from graytransfer.pipeline import train
from graytransfer.sweep import run_job


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns the monitored metric's best value for Hydra sweepers (a finite worst value for a
    failed or diverged job of a multirun, which is recorded and does not stop the sweep)."""
    try:
        return run_job(cfg, train)
    except UserError as err:
        print(f"graytransfer: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
