"""The study's machinery: reading a folder of runs and turning it into the report and the study.

`runs` (every `metrics.json` under a folder, the runs left out), `groups` (runs grouped by their
whole config but the seed, each seed once), `report_figure` (report.png), `stats` (t-intervals,
paired bootstrap differences, verdicts, Holm), `tables` (the study's tables), `resolution` (a
dataset's data setups; the resolution axis' tables), `curves` (learning curves from the CSV logs),
`folds` (a CV sweep's per-fold section of the report), `provenance` (commands, machine, unfinished
folders) and `document` (the study's Markdown, `write_study`). The user's entry points are `python
-m graytransfer.tools.report` and `python -m graytransfer.tools.study`, which parse the command
line and then call in here.

Imports no torch, Lightning or timm at import time: torch loads only to read a checkpoint, for a
run without a saved config (`groups.checkpoint_config`). May import the lower sub-packages
(model/, ...); only `graytransfer.tools` imports it.
"""
