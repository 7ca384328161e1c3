"""Command-line tools around trained runs, each `python -m graytransfer.tools.NAME`.

`evaluate` (score a checkpoint on a test split), `predict` (label images with a checkpoint),
`export` (ONNX / TorchScript with preprocessing inside), `inspect` (why a 3-channel backbone works
on grayscale, for any config), `report` (a table and chart of a sweep's runs), `explain` (class
activation maps: where the model looks, from a checkpoint alone), `shards` (any data module's
splits as pre-decoded LitData shards for `data=shards`), `study` (the study's report: intervals
over seeds, paired differences to `repeat` with Holm-adjusted p, learning curves, costs and
commands). `owned` (whose output a tool may replace) is shared by them; `depth_report` is
`inspect`'s full-depth section.

Each module parses its command line before it imports torch, Lightning or timm, so `--help` and
a config error answer at Hydra's speed (tests/tools/test_entry_points.py). The report's and the
study's machinery lives in `graytransfer.study`.

The top layer: may import any other sub-package; nothing imports it.
"""
