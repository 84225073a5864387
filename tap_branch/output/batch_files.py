"""BATCH files written straight from columnar batches (Singer's BATCH messages).

The SDK's batcher takes every record as a dict, encodes it again and gzips at level 9.
Here the records' JSON text, built a batch of rows at a time (`records.ColumnarTyper`),
is written as JSON lines: gzip at level 1 on a helper thread (ISA-L, `tap_branch.files.gunzip`;
it releases the GIL, so compressing runs beside the parsing on a second core), or plain
when the encoding's compression is "none". A file holds at most `batch_size` records; the
files of one unit of the stream (a day) make one manifest, announced when the unit is
complete. The text is handed to the helper as views of the typed arrays, not copies.
Files of a unit that is not complete (a failed file, a run that stopped) are deleted, not
left beside the announced ones: their records come again when the unit is read again.
Parquet files (`tap_branch.output.parquet`) are written here too, for every stream: one
Arrow schema per stream, a row group per batch of rows; and the files of records as dicts,
jsonl or parquet (the row path, `BranchStream.get_batches`).
"""

from __future__ import annotations

import queue
import threading
import typing as t
import uuid

import msgspec
from singer_sdk.contrib.msgspec import enc_hook
from upath import UPath

from tap_branch.files import gunzip as deflate
from tap_branch.output.parquet import ParquetRangeError, ParquetWriter, Tables, arrow_schema
from tap_branch.records.columnar import encode
from tap_branch.records.items import RowBatch

_GZIP_LEVEL = 1
#: A record (dict) as the SDK encodes it in RECORD messages (`MsgSpecWriter`).
_RECORD = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
_QUEUED_CHUNKS = 2  # batches of lines (~2.5 MB each) waiting for the helper thread: its memory
#: Parquet's chunks are whole tables (a batch of rows each): fewer wait.
_QUEUED_TABLES = 2
#: Records (dicts) collected before they are written as one parquet row group.
_ROW_GROUP = 10_000


class BatchFiles:
    """The batch files of one stream, filled with records, closed into manifests."""

    @classmethod
    def for_stream(cls, stream: t.Any, batch_config: t.Any) -> BatchFiles | None:
        """The writer of `stream`'s columnar batches, or None where its records take the row
        path (jsonl for records that must be dicts: see `columnar_plan`), whose files
        `BranchStream.get_batches` writes. Parquet is always written from the batches."""
        encoding = getattr(batch_config.encoding, "format", None)
        if encoding == "parquet" or (encoding == "jsonl" and stream.columnar_plan is not None):
            return cls(stream, batch_config)
        return None

    def __init__(self, stream: t.Any, batch_config: t.Any) -> None:
        self.stream = stream
        self.storage = batch_config.storage
        self.batch_size = int(batch_config.batch_size)
        if self.batch_size < 1:  # no file could take a record: `add` would never end
            raise ValueError(f"batch_config.batch_size must be at least 1, not {self.batch_size}")
        self.compression = batch_config.encoding.compression
        self.gzip = (self.compression or "none") == "gzip"
        self.sync_id = f"{stream.tap_name}--{stream.name}-{uuid.uuid4()}"
        self._deselected = stream.batch_deselected
        #: The stream's Arrow schema when the files are parquet, else None (JSON lines).
        self.schema = (
            arrow_schema(stream.schema, self._deselected)
            if batch_config.encoding.format == "parquet"
            else None
        )
        self._tables = Tables(self.schema) if self.schema is not None else None
        self._pending: list[dict] = []  # parquet: dicts waiting to make a row group
        self._number = 0
        self._closed: list[str] = []  # names of the files closed and not announced
        self._file: _File | None = None

    def add(self, item: dict | RowBatch) -> None:
        """Records of the current unit: a dict (the row path) or a batch of rows."""
        if isinstance(item, dict):
            if self.schema is not None:
                self._pending.append(item)
                if len(self._pending) >= min(_ROW_GROUP, self._room()):
                    self._write_pending()
                return
            for name in self._deselected:
                item.pop(name, None)
            self._write(_RECORD.encode(item) + b"\n", 1)
            return
        self._write_pending()
        lines = item.line_array()  # JSON lines: the stream types them so when it batches
        start = 0
        while start < item.count:
            part = lines.slice(start, self._room())
            text = encode.text_view(part)
            self._write(
                self._table(self._tables.of_lines, text) if self._tables else text, len(part)
            )
            start += len(part)

    def filled(self) -> list[str]:
        """The URLs of the files filled since the last call, the open file left open: for
        streams whose state moves with every record, announced as soon as a file is full. Every
        record added so far is in them, or in the open file when this returns nothing."""
        if self._file is not None:
            return []
        return self._announce()

    def finish(self) -> list[str]:
        """Close the current file; the URLs of the files written since the last call."""
        self._write_pending()
        self._close()
        return self._announce()

    def discard(self) -> None:
        """Close what is open and delete the files not announced (a partition that stopped
        mid-unit, a run that failed): no target reads them."""
        self._pending = []
        try:
            self._close()
        finally:
            root = UPath(self.storage.root, **self.storage.params).resolve()
            for name in self._closed:
                try:
                    (root / name).unlink(missing_ok=True)
                except OSError as exc:  # left behind, but never announced: not data lost
                    self.stream.logger.warning(
                        "Could not delete the unannounced batch file %s: %s", name, exc
                    )
            self._closed = []

    def _announce(self) -> list[str]:
        closed, self._closed = self._closed, []
        return [self.storage.get_url(name) for name in closed]

    def _room(self) -> int:
        if self._file is not None and self._file.records >= self.batch_size:
            self._close()
        return self.batch_size - (self._file.records if self._file else 0)

    def _write_pending(self) -> None:
        if self._pending:
            records, self._pending = self._pending, []
            self._add_records(records)

    def _add_records(self, records: list[dict]) -> None:
        start = 0
        while start < len(records):
            part = records[start : start + self._room()]
            self._write(self._table(self._tables.of_records, part), len(part))
            start += len(part)

    def _table(self, make: t.Callable[[t.Any], t.Any], rows: t.Any) -> t.Any:
        try:
            return make(rows)
        except ParquetRangeError as exc:
            raise ParquetRangeError(f"{self.stream.name}: {exc}") from None

    def _write(self, payload: t.Any, records: int) -> None:
        if self._file is None:
            self._number += 1
            name = f"{self.storage.prefix or ''}{self.sync_id}-{self._number}"
            if self.schema is not None:
                schema, compression = self.schema, self.compression
                self._file = _File(
                    self.storage,
                    name + ".parquet",
                    lambda handle: ParquetWriter(handle, schema, compression),
                    _QUEUED_TABLES,
                )
            else:
                gzip = self.gzip
                self._file = _File(
                    self.storage,
                    name + (".json.gz" if gzip else ".json"),
                    lambda handle: _JsonLines(handle, gzip),
                    _QUEUED_CHUNKS,
                )
        self._file.write(payload, records)
        if self._file.records >= self.batch_size:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            self._closed.append(file.name)  # deleted by `discard` even if closing fails
            file.close()


class _File:
    """One batch file, encoded and written by a helper thread: gzip (ISA-L) and parquet's
    encoding and compression release the GIL, so they run beside the parsing on a second core.
    `sink(handle)` gives what takes the chunks (`write`) and ends the file (`close`)."""

    def __init__(
        self, storage: t.Any, name: str, sink: t.Callable[[t.BinaryIO], t.Any], queued: int
    ) -> None:
        self.storage, self.name, self.records = storage, name, 0
        self._opened = _open(storage, name)
        self._sink = sink(self._opened)
        self._chunks: queue.Queue = queue.Queue(queued)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="tap-branch-batch", daemon=True)
        self._thread.start()

    def write(self, chunk: t.Any, records: int) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(chunk)
        self.records += records

    def close(self) -> None:
        self._chunks.put(None)
        self._thread.join()
        self._opened.close()
        if self._error is not None:
            raise self._error

    def _drain(self) -> None:
        try:
            while (chunk := self._chunks.get()) is not None:
                if self._error is None:
                    self._sink.write(chunk)
            if self._error is None:
                self._sink.close()
        except BaseException as exc:  # raised on the main thread by the next write or close
            self._error = exc
            while self._chunks.get() is not None:
                pass


def _open(storage: t.Any, name: str) -> t.BinaryIO:
    """The file `name` of the storage, written straight to its place (a local file) or
    uploaded when closed (an object store), outside any fsspec transaction. The SDK's
    `StorageTarget.open` starts one on the file system, an instance fsspec shares, and a
    transaction started while another is open replaces it: a parent stream's file open
    while its child stream writes its own (scheduled export jobs and their rows) was then
    never committed, and its BATCH message named a file that did not exist."""
    root = UPath(storage.root, **storage.params)
    if root.protocol in ("", "file", "local"):  # an object store's "mkdir" creates buckets
        root.mkdir(parents=True, exist_ok=True)
    path = root / name
    return path.fs.open(path.path, "wb", autocommit=True)


class _JsonLines:
    """JSON lines as they are, or gzipped at level 1 (ISA-L)."""

    def __init__(self, handle: t.BinaryIO, gzip: bool) -> None:
        self._handle = handle
        self._compressor = deflate.gzipper(_GZIP_LEVEL) if gzip else None

    def write(self, lines: bytes | memoryview) -> None:
        self._handle.write(self._compressor.compress(lines) if self._compressor else lines)

    def close(self) -> None:
        if self._compressor is not None:
            self._handle.write(self._compressor.flush())
