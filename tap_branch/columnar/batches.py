"""BATCH files written straight from columnar batches (Singer's BATCH messages).

The SDK's batcher takes every record as a dict, encodes it again and gzips at level 9.
Here the records' JSON text, built a batch of rows at a time (`records.ColumnarTyper`),
is written as JSON lines: gzip at level 1 on a helper thread (ISA-L, `tap_branch.deflate`;
it releases the GIL, so compressing runs beside the parsing on a second core), or plain
when the encoding's compression is "none". A file holds at most `batch_size` records; the
files of one unit of the stream (a day) make one manifest, announced when the unit is
complete. The text is handed to the helper as views of the typed arrays, not copies.
Files of a unit that is not complete (a failed file, a run that stopped) are deleted, not
left beside the announced ones: their records come again when the unit is read again.
Only the jsonl format is written here; parquet takes the SDK's own batcher.
"""

from __future__ import annotations

import queue
import threading
import typing as t
import uuid

import msgspec
from upath import UPath

from tap_branch import deflate
from tap_branch.columnar import encode
from tap_branch.columnar.records import ColumnarRows

_GZIP_LEVEL = 1
_QUEUED_CHUNKS = 8  # compressed on the helper thread; bounds the memory waiting for it


class BatchFiles:
    """The batch files of one stream, filled with records, closed into manifests."""

    @classmethod
    def for_stream(cls, stream: t.Any, batch_config: t.Any) -> BatchFiles | None:
        """The writer for `stream`, or None where the SDK's batcher is the way (parquet, or
        records that must be dicts: see `columnar_plan`)."""
        encoding = batch_config.encoding
        if getattr(encoding, "format", None) != "jsonl" or stream.columnar_plan is None:
            return None
        return cls(stream, batch_config)

    def __init__(self, stream: t.Any, batch_config: t.Any) -> None:
        self.stream = stream
        self.storage = batch_config.storage
        self.batch_size = int(batch_config.batch_size)
        if self.batch_size < 1:  # no file could take a record: `add` would never end
            raise ValueError(f"batch_config.batch_size must be at least 1, not {self.batch_size}")
        self.gzip = (batch_config.encoding.compression or "none") == "gzip"
        self.sync_id = f"{stream.tap_name}--{stream.name}-{uuid.uuid4()}"
        self._deselected = stream.columnar_plan
        self._number = 0
        self._manifest: list[str] = []
        self._unannounced: list[str] = []  # names of the current unit's files
        self._file: _File | None = None

    def add(self, item: dict | ColumnarRows) -> None:
        """Records of the current unit: a dict (the row path) or a batch of rows."""
        if isinstance(item, dict):
            for name in self._deselected:
                item.pop(name, None)
            self._write(msgspec.json.encode(item) + b"\n", 1)
            return
        lines = item.line_array()  # JSON lines: the stream types them so when it batches
        start = 0
        while start < item.count:
            part = lines.slice(start, self._room())
            self._write(encode.text_view(part), len(part))
            start += len(part)

    def finish(self) -> list[str]:
        """Close the current file; the URLs of the files written since the last call."""
        self._close()
        manifest, self._manifest, self._unannounced = self._manifest, [], []
        return manifest

    def discard(self) -> None:
        """Close what is open and delete the current unit's files, never announced (a
        partition that stopped mid-unit, a run that failed): no target reads them."""
        try:
            self._close()
        finally:
            root = UPath(self.storage.root, **self.storage.params).resolve()
            for name in self._unannounced:
                try:
                    (root / name).unlink(missing_ok=True)
                except OSError as exc:  # left behind, but never announced: not data lost
                    self.stream.logger.warning(
                        "Could not delete the unannounced batch file %s: %s", name, exc
                    )
            self._manifest, self._unannounced = [], []

    def _room(self) -> int:
        if self._file is not None and self._file.records >= self.batch_size:
            self._close()
        return self.batch_size - (self._file.records if self._file else 0)

    def _write(self, lines: bytes | memoryview, records: int) -> None:
        if self._file is None:
            self._number += 1
            name = f"{self.storage.prefix or ''}{self.sync_id}-{self._number}.json" + (
                ".gz" if self.gzip else ""
            )
            self._file = _File(self.storage, name, self.gzip)
        self._file.write(lines, records)
        if self._file.records >= self.batch_size:
            self._close()

    def _close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            self._unannounced.append(file.name)
            self._manifest.append(file.close())


class _File:
    """One batch file, written (and gzipped) by a helper thread."""

    def __init__(self, storage: t.Any, name: str, gzip: bool) -> None:
        self.storage, self.name, self.records = storage, name, 0
        self._opened = storage.open(name, "wb")
        self._handle = self._opened.__enter__()
        self._compressor = deflate.gzipper(_GZIP_LEVEL) if gzip else None
        self._chunks: queue.Queue = queue.Queue(_QUEUED_CHUNKS)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="tap-branch-batch", daemon=True)
        self._thread.start()

    def write(self, lines: bytes | memoryview, records: int) -> None:
        if self._error is not None:
            raise self._error
        self._chunks.put(lines)
        self.records += records

    def close(self) -> str:
        self._chunks.put(None)
        self._thread.join()
        self._opened.__exit__(None, None, None)
        if self._error is not None:
            raise self._error
        return self.storage.get_url(self.name)

    def _drain(self) -> None:
        try:
            while (chunk := self._chunks.get()) is not None:
                if self._error is None:
                    self._handle.write(
                        self._compressor.compress(chunk) if self._compressor else chunk
                    )
            if self._compressor is not None and self._error is None:
                self._handle.write(self._compressor.flush())
        except BaseException as exc:  # raised on the main thread by the next write or close
            self._error = exc
            while self._chunks.get() is not None:
                pass
