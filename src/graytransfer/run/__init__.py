"""Running an experiment: what `python train.py` does, start to finish.

`pipeline` (`train(cfg)`: build, fit, test, record), `resume` (which checkpoint and folder a run
continues in), `launch` (DDP inside a Hydra multirun), `sweep` (one job of a sweep: its identity,
status and a finite objective), `guards` (checks before training), `record` (`metrics.json` and
the end-of-run summary), `loggers` (W&B online/offline, the run's loggers).

May import everything below it (`model`, `adapt`, `data`, `callbacks`, base modules); never
`tools`.
"""
