"""The classifier: what is trained, and the one recipe that builds it.

`backbone` (timm model by name and tag, its weights' data config), `weights` (where pretrained
weights come from, loaded safely), `head` (pooling + classifier), `finetune` (layer decay, frozen
BatchNorm, channels_last, compile; the optimizer groups), `schedule` (warm-up + cosine),
`classifier` (`GrayscaleClassifier`, the LightningModule), `build` (the one recipe from a config,
used by training, restoring and the benchmarks), `checkpoint_file` (reading a checkpoint safely)
and `restore` (a classifier from its checkpoint alone).

May import `graytransfer.adapt`, `graytransfer.data` (sizes only) and the base modules
(`errors`, `config`); never `callbacks`, `run` or `tools`.
"""
