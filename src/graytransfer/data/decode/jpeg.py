"""Proof that a JPEG's pixels decode from its own data, for the full scan.

libjpeg treats a scan that ends early (a truncated file, often with an end-of-image marker
appended by a tool that "repaired" it) as a warning: it fills the missing blocks with grey and
Pillow loads the image without complaint. The proof: decode the file, then decode it again with
extra bytes placed before its end-of-image marker. A complete file never reads them (its scan
ends first), so the pixels are identical; a truncated one decodes them into its missing blocks,
so the pixels differ. Both decodes use the reduced DCT scale that training decodes the file at
(see `graytransfer.data.decode.gray.decode_gray`), so what is proven is exactly what the model sees:
data lost only in detail that scale never reads (e.g. the finest coefficients of the last block)
changes nothing there. It costs two more (reduced) decodes per JPEG, in the full scan only.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

#: bytes placed before the end marker: fixed, no 0xFF (which would start a marker)
_PROBE = bytes(np.random.default_rng(12345).integers(0, 255, 256, dtype=np.uint8))
_END = b"\xff\xd9"


def _pixels(data: bytes, size: tuple[int, int] | None) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        if size is not None:
            img.draft("L", (max(size), max(size)))  # as decode_gray does
        img.load()
        return np.asarray(img).copy()


def check_jpeg_complete(path: str | Path, size: tuple[int, int] | None = None) -> None:
    """Raise OSError when the JPEG at `path` lacks its end marker or its pixel data, decoded for
    the target `size` (H, W; None: in full), ends early (see the module docstring); return None
    for a complete file."""
    data = Path(path).read_bytes()
    body = data.rstrip(b"\0\r\n ")
    if not body.endswith(_END):
        raise OSError("no JPEG end-of-image marker: the file is truncated")
    pixels = _pixels(data, size)
    try:
        probed = _pixels(body[: -len(_END)] + _PROBE + _END, size)
    except Exception:  # the extra bytes were read as image data and broke it: incomplete
        probed = None
    if probed is None or not np.array_equal(pixels, probed):
        raise OSError("its image data ends early (a truncated JPEG): the pixels do not decode")
