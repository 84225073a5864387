"""The columnar file path: csv.gz export files read, typed and written a batch of rows at a time.

- `csv_batches`: the file's rows as batches of text columns (pyarrow's streaming CSV reader);
- `encode`: a column of cells to the JSON text of their typed values;
- `records`: the batches' records as JSON text, equal to the row path's (`tap_branch.records.typers`);
- `batches`: Singer BATCH files written from those records.

The row path stays the reference and the fallback: a cell, a column or the rest of a file
this path does not recognise is typed by the row path's own code.
"""

import contextlib
import os

# pyarrow's jemalloc options (one arena, no per-thread caches: the batches' arrays are built
# on two typing threads and freed on the main one, and each arena and cache kept its own
# freed pages; peak RSS on a 300k-row events day ~220 -> ~187 MB at the same speed) are set
# by `tap_branch/__init__.py`, before any module imports pyarrow.
import pyarrow as pa


def _lean_memory_pool() -> None:
    """jemalloc for pyarrow's buffers, unless ARROW_DEFAULT_MEMORY_POOL says otherwise.

    The arrays of a batch are built on the typing threads and freed on the main thread;
    mimalloc (pyarrow's default on Linux) keeps such memory with the thread that built it,
    and the peak RSS of typing a 300k-row events day was ~65 MB higher with it, at the same
    speed. Builds without jemalloc keep their default."""
    if os.environ.get("ARROW_DEFAULT_MEMORY_POOL"):
        return
    with contextlib.suppress(NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


_lean_memory_pool()
