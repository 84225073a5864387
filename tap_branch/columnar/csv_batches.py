"""The rows of a CSV body in batches of string columns (pyarrow's streaming CSV reader).

Every cell stays text (the schema, not inference, types the columns: `records`), an
empty cell is "", quoted cells may hold commas and newlines, blank lines are not rows.
The header is read and checked (`file_checks.check_header`) before any row, as the row
path does. What pyarrow cannot read (a row of another width than the header, text that
is not UTF-8, quoting it does not accept) raises `RowPathNeeded`: the caller reads the
rest of the file with the row path (`downloads.csv_rows`), which has an answer for
each of those (pads or keeps the cells, or fails naming the file), so both paths give
the same records for the same file.
"""

from __future__ import annotations

import csv
import io
import typing as t

import pyarrow as pa
import pyarrow.csv as pa_csv

from tap_branch.file_checks import check_header

#: Bytes of CSV text per batch typed at once: ~6,000 rows of a wide export. Larger batches
#: spread the fixed cost of each compute call over more rows; the batch bounds the memory.
BATCH_BYTES = 2 << 20
#: What pyarrow parses at a time; its parser reserves many times its block, and its reader
#: keeps up to 32 blocks read ahead (on its IO thread, even without `use_threads`), so blocks
#: stay small and are put together into batches of `BATCH_BYTES`. Half a MB parses as fast
#: as 1 MB (measured) with half the read-ahead.
_BLOCK_BYTES = 1 << 19
#: The header must be within the first bytes of the body.
_HEADER_BYTES = 1 << 20


class RowPathNeeded(Exception):
    """The columnar reader cannot go on with this file; the row path reads the rest."""


def csv_batches(
    body: t.IO[bytes], key_columns: t.Sequence[str] = (), *, batch_bytes: int | None = None
) -> t.Iterator[pa.RecordBatch]:
    """Batches of the rows of a UTF-8 CSV body; column names are the header's cells."""
    head = body.peek(_HEADER_BYTES)[:_HEADER_BYTES]  # type: ignore[attr-defined]
    header = _header(head)
    check_header(header, key_columns)
    if (
        b'"' in head.split(b"\n", 1)[0]
        or "\ufffd" in "".join(header)
        or len(set(header)) != len(header)
    ):
        # Quoted names, bytes that are not UTF-8, a name twice: the row path's reading.
        raise RowPathNeeded("the header is not plain")
    try:
        reader = pa_csv.open_csv(
            body,
            read_options=pa_csv.ReadOptions(
                column_names=header,
                skip_rows=1,
                block_size=min(_BLOCK_BYTES, batch_bytes or BATCH_BYTES),
                # Parsed on the caller's thread: the typing threads have the other core. The
                # body is still read ahead on pyarrow's IO thread, so a broken transfer can
                # surface before rows read fine are given: the retry skips by rows given.
                use_threads=False,
            ),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid:
        raise RowPathNeeded("pyarrow cannot read this file's first rows") from None
    try:
        yield from _put_together(reader, batch_bytes or BATCH_BYTES)
    except pa.ArrowInvalid:
        # The message quotes the row: never passed on (cells may hold personal data).
        raise RowPathNeeded("pyarrow cannot read a row of this file") from None
    finally:
        reader.close()


def _put_together(blocks: t.Iterable[pa.RecordBatch], size: int) -> t.Iterator[pa.RecordBatch]:
    """The parsed blocks as batches of at least `size` bytes (the last one may be smaller)."""
    waiting: list[pa.RecordBatch] = []
    waiting_bytes = 0
    for block in blocks:
        if not block.num_rows:
            continue
        waiting.append(block)
        waiting_bytes += block.nbytes
        if waiting_bytes >= size:
            yield _one(waiting)
            waiting, waiting_bytes = [], 0
    if waiting:
        yield _one(waiting)


def _one(blocks: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(blocks) == 1:
        return blocks[0]
    return pa.Table.from_batches(blocks).combine_chunks().to_batches()[0]


def _header(head: bytes) -> list[str] | None:
    """The header row of a body's first bytes (peeked: the body still holds them)."""
    # A cut multi-byte character at the end of the peek is not the header's.
    text = head.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text, newline="")), None)
