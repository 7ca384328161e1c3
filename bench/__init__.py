"""Benchmarks, each runnable as `python -m bench.NAME`; each prints a Markdown table
and writes JSON (the machine, the settings, the rows).

- `overhead`: `pipeline.train` (what `train.py` runs) against a bare PyTorch loop.
- `input_path`: a 3-channel float CPU pipeline against the uint8 1-channel path.
- `levers`: channels_last, bf16-mixed and torch.compile on/off (a GPU benchmark).
- `scaling`: images/s and peak memory for EfficientNet-B0..B5.
"""
