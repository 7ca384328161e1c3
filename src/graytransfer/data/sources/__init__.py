"""The data sources: one module per `data=NAME` choice, each a `GrayscaleDataModule`.

`folder` (class folders) and `csvlist` (a CSV list; `csv_rows` reads and checks its rows) share
`file_base` (`FileDataModule`: files scanned, split and cached before training); `mnist` (the
MNIST family) and `medmnist` share `array_base` (`ArrayDataModule`: official splits held in
memory); `digits` and `textures` are bundled offline sets; `shards` streams LitData shards that
`graytransfer.tools.shards` wrote. The config names them through `graytransfer.data`.

May import `graytransfer.data`'s shared modules, `decode`, `split` and `store`; nothing below
imports a source.
"""
