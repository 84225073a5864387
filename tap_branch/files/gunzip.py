"""gzip streams inflated and deflated by ISA-L (python-isal), zlib's API with Intel's code.

The same checks as zlib (the trailer's CRC and size, the end-of-stream marker), measured on
a 140 MB events file: inflating takes ~0.7x zlib's time and deflating at level 1 ~0.25x, so
the download's gunzip and the BATCH files' gzip cost less of the two cores they share with
the parsing and typing.
"""

from __future__ import annotations

import typing as t

from isal import isal_zlib

#: What a corrupt gzip stream raises (a wrong CRC, a bad block).
ERROR = isal_zlib.error


def gunzipper() -> t.Any:
    """A decompressor of one gzip member (`eof`, `unused_data` as zlib's)."""
    return isal_zlib.decompressobj(wbits=31)


def gzipper(level: int) -> t.Any:
    """A compressor writing one gzip member at `level` (ISA-L's levels: 0 to 3)."""
    return isal_zlib.compressobj(level, isal_zlib.DEFLATED, 31)
