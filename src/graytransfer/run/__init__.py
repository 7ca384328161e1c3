"""Running an experiment: what `python train.py` does, start to finish.

`pipeline` (`train(cfg)`: build, fit, test, record), `resume` (which checkpoint and folder a run
continues in, a finished run continued into a new folder), `folder` (Hydra's files written under
the run's lock, no folder left by a failed start), `lock` (one process per run folder),
`launch` (DDP inside a Hydra multirun), `sweep` (one job of a sweep: its identity, status and a
finite objective), `guards` (checks before training), `record` (`metrics.json` and the
end-of-run summary), `loggers` (W&B online/offline, MLflow's local store, the run's loggers),
`extras` (the config tree at the start, the known upstream noise silenced, required tags).

May import everything below it (`model`, `adapt`, `data`, `callbacks`, base modules); never
`tools`.
"""
