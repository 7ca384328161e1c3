"""The IDX format of MNIST and its relatives (plain or gzip-compressed), read without torchvision.

Layout: two zero bytes, a type byte (0x08 uint8 ... 0x0E float64), the number of dimensions,
then one big-endian uint32 per dimension, then the values (big-endian).
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from graytransfer.errors import UserError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in an IDX file (`.gz` is decompressed); a UserError names a bad file."""
    path = Path(path)
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise UserError(f"'{path}' cannot be read ({err}): download it again") from err
    ndim = data[3] if len(data) >= 4 else 0
    offset = 4 + 4 * ndim
    if len(data) < offset or data[:2] != b"\0\0" or data[2] not in _TYPES or ndim == 0:
        raise UserError(f"'{path}' is not an IDX file (bad header): download it again")
    dims = struct.unpack(f">{ndim}I", data[4:offset])
    dtype = np.dtype(_TYPES[data[2]])
    expected = offset + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise UserError(
            f"'{path}' holds {len(data)} bytes but its header {list(dims)} needs {expected}: "
            "the file is truncated or corrupt; download it again"
        )
    array = np.frombuffer(data, dtype=dtype, offset=offset).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)
