"""Reading one scheduled export file: which format it is, and its rows as typed records.

Subscriptions choose `response_format` csv, json (newline-delimited) or
parquet, compressed gz or snappy. csv and json are streamed (gzip or plain);
parquet is read with pyarrow and needs a seekable file, so it
is streamed to a temporary file on disk first and read batch by batch: memory
stays flat either way. Snappy-compressed csv/json has no reader here: that
asks for a clear change of the subscription rather than a silent skip.
"""

from __future__ import annotations

import datetime as dt
import decimal
import shutil
import tempfile
import typing as t
from urllib.parse import urlsplit

from singer_sdk.exceptions import FatalAPIError

from tap_branch.files.downloads import csv_rows, json_lines

CSV, JSON, PARQUET = "csv", "json", "parquet"
_PARQUET_BATCH_ROWS = 4096


class UnsupportedFileError(FatalAPIError):
    """A file this tap cannot read as configured (a missing extra, an unsupported compression)."""


def file_format(
    url: str, subscription_format: str | None, compression: str | None, *, where: str
) -> str:
    """csv | json | parquet, from the file's name, else the subscription's `response_format`."""
    name = urlsplit(url).path.lower()
    if name.endswith(".parquet") or ".parquet." in name:
        return PARQUET
    snappy_text = (compression or "").lower() == "snappy" and (subscription_format or "") != PARQUET
    if name.endswith(".snappy") or snappy_text:
        raise UnsupportedFileError(
            f"{where} is snappy-compressed {subscription_format or 'csv/json'}, which this tap does not read. "
            "Set the subscription's response_format_compression to gz, or use response_format parquet."
        )
    if ".json" in name or name.endswith(".jsonl"):
        return JSON
    if ".csv" in name:
        return CSV
    fmt = (subscription_format or CSV).lower()
    if fmt not in (CSV, JSON, PARQUET):
        raise UnsupportedFileError(f"{where}: unknown response_format {subscription_format!r}")
    return fmt


def _plain(value: t.Any) -> t.Any:
    """A parquet cell as the typers take it: text for dates, times and binary."""
    if isinstance(value, dt.datetime):
        return value.isoformat() if value.tzinfo else value.isoformat() + "+00:00"
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def parquet_rows(body: t.IO[bytes]) -> t.Iterator[dict]:
    """Rows of a parquet body as dicts; the body is spooled to disk (parquet needs to seek)."""
    import pyarrow.parquet as pq

    with tempfile.TemporaryFile(prefix="tap-branch-") as spool:
        shutil.copyfileobj(body, spool, 1 << 20)
        spool.seek(0)
        for batch in pq.ParquetFile(spool).iter_batches(batch_size=_PARQUET_BATCH_ROWS):
            for row in batch.to_pylist():
                yield {key: _plain(value) for key, value in row.items()}


PARSERS: dict[str, t.Callable[[t.IO[bytes]], t.Iterator[t.Any]]] = {
    CSV: csv_rows,
    JSON: json_lines,
    PARQUET: parquet_rows,
}
