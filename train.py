"""Train a grayscale classifier: `python train.py adapt=repeat model=b5`, sweeps with `-m`."""

import hydra
from omegaconf import DictConfig

from graytransfer.cli import exit_on_user_error
from graytransfer.run.pipeline import train
from graytransfer.run.sweep import run_job


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    """Returns the monitored metric's best value for Hydra sweepers (a finite worst value for a
    failed or diverged job of a multirun, which is recorded and does not stop the sweep)."""
    return exit_on_user_error(lambda: run_job(cfg, train))


if __name__ == "__main__":
    main()
