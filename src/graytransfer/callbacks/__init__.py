"""Every Lightning callback of the project, one module each, each chosen in `conf/callbacks/`.

`checkpoint` (atomic, resumable checkpoints; a save on SIGTERM) with `checkpoint_io` (the
checkpoint IO plugin it installs: each file written once, atomically, by default in a background
thread), `nan_guard` (stop before a
diverged update), `confusion` (the test confusion matrix; per label for multilabel and binary
tasks, with `label_table`: their files and the W&B per-label table), `freeze` (frozen
backbone for the first epochs), `ema` (weight averaging that is also tested), `input_preview`
(pictures of what the backbone sees), `activation_maps` (class activation maps of test images,
pytorch-grad-cam; also used by `python -m graytransfer.tools.explain`), `progress` (the progress
bar: loss and the monitored metric only), `summary` (the model summary, without a FLOPs column of
zeros).

May import `graytransfer.model`, `graytransfer.adapt` and the base modules; never `run` or
`tools`. The LightningModule never imports a callback: the Trainer holds them.
"""
