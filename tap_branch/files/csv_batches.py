"""The rows of a CSV body in batches of string columns (pyarrow's streaming CSV reader).

Every cell stays text (the schema, not inference, types the columns: `records`), an
empty cell is "", quoted cells may hold commas and newlines, blank lines are not rows.
The header is read and checked (`file_checks.check_header`) before any row, as the row
path does. What pyarrow cannot read (a row of another width than the header, text that
is not UTF-8, quoting it does not accept) raises `RowPathNeeded`: the caller reads the
rest of the file with the row path (`downloads.csv_rows`), which reads what it can read
and fails naming the file and line where a row is not one (another width than the
header), so both paths give the same records for the same file. A row with an empty key
cell is handed over the same way, for the row path to name its line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import threading
import typing as t

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from tap_branch.files.checks import check_header


class Pace(t.NamedTuple):
    """How much of a file is in flight at once."""

    #: CSV text per batch typed at once. Larger batches spread the fixed cost of each
    #: compute call (~2.6 ms a batch) over more rows; the batch bounds the memory.
    batch_bytes: int
    #: What pyarrow parses at a time: its parser reserves several times its block.
    block_bytes: int
    #: Batches typed ahead of the one being written (`records.typed_ahead`).
    typed_ahead: int
    #: Rows per batch at most.
    batch_rows: int
    #: The records' JSON per batch, estimated as it is read (`_Rows`): a record's JSON
    #: outweighs its CSV row most where the row is short (an empty cell still makes
    #: `"key":null`), and the typed batch is what is in flight. None: `batch_rows` rows.
    lines_bytes: int | None = None


#: RECORD lines, which go to a target at its pace: 135-141 MB peak RSS on a 1M-row events
#: day of any shape the benchmark makes (`docs/performance.md`). Rows of usual width fill
#: `lines_bytes` before `batch_bytes` (1,024 rows of an events export, 1,536 where four
#: cells in five are empty: 15% less time on such a day than 1,024); wide rows (JSON cells of
#: 40 keys) fill the bytes first, and with 768 kB batches (~190 such rows) the fixed cost of
#: each batch took ~40% more CPU. 3.25 MB (1,280 rows of an events export) was no faster
#: side by side on epoch seconds or isoformat days, and held ~2 MB more (150.3 MiB once).
LEAN = Pace(
    batch_bytes=1536 << 10,
    block_bytes=256 << 10,
    typed_ahead=1,
    batch_rows=4096,
    lines_bytes=3 << 20,
)
#: BATCH files, the tap's own work: the same batches, two typed ahead (10-16% faster than one
#: on mixed timestamp forms, ~4 MB more). It was 1 MB blocks put together in twos and cut
#: at 2,048 rows: half its batches were the few rows left over (2,222 rows gave 2,048 and
#: 174), each paying a whole batch's typing, at 165-171 MB; now 137-144 MB.
FAST = LEAN._replace(typed_ahead=2)


def pace_for(batching: bool) -> Pace:
    return FAST if batching else LEAN


#: Blocks pyarrow's reader may read ahead of the blocks given. Left alone it reads up to 32
#: (on its IO thread, even without `use_threads`). A few keep it busy: the body is inflated
#: ahead on its own thread (`downloads.GunzipAhead`).
_BLOCKS_AHEAD = 3
#: pyarrow's reader gives one batch per block read (an empty one for blank lines), so a read
#: never waits for a block it is needed for. Should a version of it not, the wait would never
#: end: a read that waits this long while the reader is asked for a batch ends the pacing.
_STUCK_SECONDS = 2.0
#: A key cell's text that is not a key: made once (a str argument is converted at each call).
_NO_KEY = pa.scalar("", pa.string())
#: The header must be within the first bytes of the body.
_HEADER_BYTES = 1 << 20


class RowPathNeeded(Exception):
    """The columnar reader cannot go on with this file; the row path reads the rest."""


def csv_batches(
    body: t.IO[bytes],
    key_columns: t.Sequence[str] = (),
    *,
    pace: Pace = FAST,
    batch_bytes: int | None = None,
    batch_rows: int | None = None,
) -> t.Iterator[pa.RecordBatch]:
    """Batches of the rows of a UTF-8 CSV body; column names are the header's cells.
    `batch_bytes`, `batch_rows`: the pace's size of a batch, changed (tests: `batch_rows`
    rows a batch, whatever their JSON weighs)."""
    head = body.peek(_HEADER_BYTES)[:_HEADER_BYTES]  # type: ignore[attr-defined]
    header = _header(head)
    check_header(header, key_columns)
    if b'"' in head.split(b"\n", 1)[0] or "\ufffd" in "".join(header):
        # Quoted names, bytes that are not UTF-8: the row path's reading.
        raise RowPathNeeded("the header is not plain")
    batch_bytes = batch_bytes or pace.batch_bytes
    rows = _Rows(batch_rows or pace.batch_rows, None if batch_rows else pace.lines_bytes, header)
    block_bytes = min(pace.block_bytes, batch_bytes)
    paced = _PacedBody(body)
    try:
        # Opening parses the first rows: a row longer than the blocks allowed ahead would
        # otherwise wait forever for the block that finishes it.
        with paced.asking():
            reader = pa_csv.open_csv(
                paced,
                read_options=pa_csv.ReadOptions(
                    column_names=header,
                    skip_rows=1,
                    block_size=block_bytes,
                    # Parsed on the caller's thread: the typing threads have the other core. The
                    # body is still read ahead on pyarrow's IO thread (`_PacedBody`).
                    use_threads=False,
                ),
                parse_options=pa_csv.ParseOptions(newlines_in_values=True, ignore_empty_lines=True),
                convert_options=pa_csv.ConvertOptions(
                    column_types={name: pa.string() for name in header},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                    check_utf8=False,  # checked faster on the bytes (`_PacedBody`)
                ),
            )
    except pa.ArrowInvalid:
        paced.stop()
        paced.raise_error()
        raise RowPathNeeded("pyarrow cannot read this file's first rows") from None
    blocks_per_batch = max(1, batch_bytes // block_bytes)
    keys = [header.index(column) for column in key_columns]
    try:
        for batch in _batches_of(paced.given_each(reader), rows, blocks_per_batch):
            if any(pc.index(batch.column(index), _NO_KEY).as_py() >= 0 for index in keys):
                # A row without its key: the row path reads on, and fails naming its line.
                raise RowPathNeeded("a row of this file has an empty key cell")
            yield batch
    except pa.ArrowInvalid:
        paced.raise_error()  # pyarrow refused the row the error cut short
        # The message quotes the row: never passed on (cells may hold personal data).
        raise RowPathNeeded("pyarrow cannot read a row of this file") from None
    finally:
        paced.stop()
        reader.close()


class _PacedBody:
    """The body as pyarrow's reader reads it: a block at a time, at most `_BLOCKS_AHEAD`
    blocks ahead of the blocks given, and checked to be UTF-8 in one pass a block (a block of
    plain ASCII, the usual case, by `bytes.isascii`), instead of pyarrow checking each cell.

    An error of the body (a broken transfer) or of the check (`RowPathNeeded`: not UTF-8)
    never goes into pyarrow: the read ends the body there, as an end of file would, and the
    error is raised on the caller's thread once the blocks read before it are given, all but
    the last, which that end cut short. (Raised into pyarrow, the exception's traceback came
    to hold the reader, and the IO thread that dropped it last waited on itself to close the
    reader: a hang, seen once at the end of a test run.)"""

    closed = False

    def __init__(self, body: t.IO[bytes]) -> None:
        self._body = body
        self._changed = threading.Condition()
        self._read = self._given = 0
        self._whole = 0  # reads that gave bytes
        self._error: Exception | None = None
        self._asked = False  # the reader is being asked for a block
        self._paced = True
        #: The start of a character the last block cut, checked with the next block.
        self._cut_character = b""

    def read(self, size: int = -1) -> bytes:
        with self._changed:
            while self._paced and self._read - self._given >= _BLOCKS_AHEAD:
                if not self._changed.wait(_STUCK_SECONDS if self._asked else None):
                    self._paced = not self._asked  # see _STUCK_SECONDS
            self._read += 1
        if self._error is not None:
            return b""
        try:
            block = self._body.read(size)
            if self._cut_character or not block.isascii():
                self._check_utf8(block)
        except Exception as exc:  # noqa: BLE001 - raised on the caller's thread (see above)
            self._error = exc
            return b""
        if block:
            self._whole += 1
        return block

    @contextlib.contextmanager
    def asking(self) -> t.Iterator[None]:
        """The reader is being asked for rows: a read that waits for room then ends the
        pacing after `_STUCK_SECONDS` (a row longer than the blocks allowed ahead)."""
        self._set(asked=True)
        try:
            yield
        finally:
            self._set(asked=False)

    def given_each(self, blocks: t.Iterable[pa.RecordBatch]) -> t.Iterator[pa.RecordBatch]:
        """The reader's blocks, making room for one more read as each is given."""
        blocks = iter(blocks)
        while True:
            with self.asking():
                block = next(blocks, None)
            # After an error the read that met it ended the body, so pyarrow parsed the block
            # before it as the last one, cut row included: that block is never given.
            if self._error is not None and (block is None or self._given >= self._whole - 1):
                self.raise_error()
            if block is None:
                return
            self._set(given=1)
            yield block

    def raise_error(self) -> None:
        """Raise the error a read met, if one did."""
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        """Nothing waits any more (the file is read, or the reading stopped)."""
        with self._changed:
            self._paced = False
            self._changed.notify_all()

    def _set(self, *, asked: bool | None = None, given: int = 0) -> None:
        with self._changed:
            self._asked = self._asked if asked is None else asked
            self._given += given
            self._changed.notify_all()

    def _check_utf8(self, block: bytes) -> None:
        data = self._cut_character + block if self._cut_character else block
        if not block and data:
            raise RowPathNeeded("the file ends within a character: it is not UTF-8")
        # A character cut by the block's end: its first bytes wait for the next block.
        keep = _cut_at_end(data)
        self._cut_character = data[len(data) - keep :] if keep else b""
        try:
            _utf8_text(memoryview(data)[: len(data) - keep]).validate(full=True)
        except pa.ArrowInvalid:
            raise RowPathNeeded("the file holds text that is not UTF-8") from None


class _Rows:
    """How many rows a batch takes: as many as make `lines_bytes` of JSON records, at most
    `most`. A record's JSON is its cells' text and, for every cell, empty or not, the
    column's `"name":` and a few bytes (quotes, `null`, a comma): within 3% of the typed
    lines on every shape of the benchmark, read from each block as it comes."""

    def __init__(self, most: int, lines_bytes: int | None, header: t.Sequence[str]) -> None:
        self._most = most
        self._lines_bytes = lines_bytes
        #: Per row: `"name":` and a comma for each column; the 4 bytes of each cell's offset
        #: in the block stand for its quotes or `null`.
        self._keys = sum(len(name.encode()) + 4 for name in header)

    def after(self, block: pa.RecordBatch) -> int:
        """The rows of a batch where rows weigh what `block`'s do."""
        if self._lines_bytes is None:
            return self._most
        per_row = self._keys + block.nbytes // block.num_rows
        rows = min(self._most, self._lines_bytes // per_row)
        # Rounded down to a quarter of its power of two (1,024, 1,280, 1,536, 1,792, 2,048,
        # ...), as the allocator's sizes go: 1,029 int64s took a 10 kB block where 1,024
        # fill 8 kB, and batches of such rows held ~3 MB more at the peak.
        step = 1 << max(0, rows.bit_length() - 3)
        return max(1, rows - rows % step)


def _batches_of(
    blocks: t.Iterable[pa.RecordBatch], sizes: _Rows, blocks_per_batch: int
) -> t.Iterator[pa.RecordBatch]:
    """The parsed blocks' rows in batches of `sizes` rows, or of fewer where `blocks_per_batch`
    blocks come first (wide rows); the last batch may hold fewer.

    The rows of a batch may come from two blocks, and the rest of a block waits for the next
    one: the blocks' edges fall anywhere, and cut at them a batch was often a few rows (a
    2 MB batch of 2,222 rows gave 2,048 and 174), each paying the whole fixed cost of typing
    a batch (compute calls, ~5-8 ms) for few rows."""
    waiting: list[pa.RecordBatch] = []  # blocks, or the rest of one, in order
    count = 0  # their rows
    parts = 0.0  # the blocks they make up
    for block in blocks:
        if not block.num_rows:
            continue
        rows = sizes.after(block)
        waiting.append(block)
        count += block.num_rows
        parts += 1
        while count >= rows or (parts >= blocks_per_batch and count):
            take = min(rows, count)
            batch = _first_rows(waiting, take)
            parts *= (count - take) / count
            count -= take
            yield batch
    if waiting:
        yield _first_rows(waiting, count)


def _first_rows(blocks: list[pa.RecordBatch], rows: int) -> pa.RecordBatch:
    """The first `rows` rows of `blocks` as one batch (a slice where one block holds them, else
    copied into one), taken out of `blocks`: what is left there is the rest."""
    head: list[pa.RecordBatch] = []
    left = rows
    while left:
        block = blocks[0]
        if block.num_rows <= left:
            head.append(blocks.pop(0))
            left -= block.num_rows
        else:
            head.append(block.slice(0, left))
            blocks[0] = block.slice(left)
            left = 0
    if len(head) == 1:
        return head[0]
    return pa.concat_batches(head)


def _cut_at_end(data: bytes) -> int:
    """How many bytes at the end of `data` start a UTF-8 character it does not finish."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 != 0x80:  # ASCII or a character's first byte
            if byte < 0xC0:
                return 0
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return back if back < length else 0
    return 0


def _utf8_text(data: bytes | memoryview) -> pa.Array:
    """The bytes as one pyarrow string, not copied: its full validation checks the UTF-8 in
    one pass, where the reader would check each cell apart."""
    offsets = pa.array([0, len(data)], pa.int32()).buffers()[1]
    return pa.Array.from_buffers(pa.string(), 1, [None, offsets, pa.py_buffer(data)])


def _header(head: bytes) -> list[str] | None:
    """The header row of a body's first bytes (peeked: the body still holds them)."""
    # A cut multi-byte character at the end of the peek is not the header's.
    text = head.decode("utf-8-sig", errors="replace")
    return next(csv.reader(io.StringIO(text, newline="")), None)
