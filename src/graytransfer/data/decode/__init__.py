"""Files and their pixels: decoding one file into a single-channel integer array, and checking it.

`gray` (any image file -> uint8 by the 8-bit rules, and listing image folders), `depth` (the
full-depth path: uint16 / int16 stored values), `dicom` (modality values and VOI windows,
pydicom), `idx` (MNIST's IDX format), `jpeg` (the proof that a JPEG's pixels decode),
`finite` (NaN / inf make a bad file) and `scan` (every file decoded once before training, the
bad ones collected).

Numpy, Pillow and pydicom only: imports nothing of `graytransfer.data` outside this package.
"""
