"""Train a grayscale classifier: `python train.py adapt=repeat model=b5`, sweeps with `-m`.

Returns the monitored metric's best value to Hydra's sweepers (a finite worst value for a failed
or diverged job of a multirun, which is recorded and does not stop the sweep)."""

from graytransfer.cli import hydra_entry
from graytransfer.run.pipeline import train
from graytransfer.run.sweep import run_job

main = hydra_entry("train", lambda cfg: run_job(cfg, train))

if __name__ == "__main__":
    main()
