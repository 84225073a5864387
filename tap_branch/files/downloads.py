"""Streamed reading of export files behind signed URLs.

The SDK's request path reads every response body whole (it sends without
`stream=True`), which would hold an entire export in memory. Files are read
here instead: a streamed GET (wrapped in the stream's `request_decorator`, so
it gets the same retries as any API call), gunzipped incrementally, parsed
item by item. Memory stays flat whatever the file's size.

A connection that breaks mid-file, a gzip stream that ends early, or a body that
stalls (fewer than `download_stall_bytes` bytes in `request_timeout` seconds of
waiting: `PacedBody`) is retried from the start of the file with the items
already yielded skipped, so nothing is lost and nothing is yielded twice (a stall
only once: `STALL_TRIES`). A file that never answers fails naming it once its
tries are spent. A body that is not what Branch exports (`tap_branch.files.checks`:
empty, a web page, not gzip, no header, a header without the key columns, a line
that is not a JSON object) is retried the same way, then fails naming the file.
A 403 (expired signature) asks the caller's `refresh` for a fresh URL, once per
expiry.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import http.client
import io
import itertools
import queue
import threading
import time
import typing as t
import zlib
from urllib.parse import parse_qsl, urlsplit

import requests
import urllib3.exceptions

from tap_branch.errors import (
    DownloadError,
    FileNotReadyError,
    RateLimitedError,
    SignedUrlExpiredError,
    describe_response,
    no_answer_reason,
)
from tap_branch.files import gunzip as deflate
from tap_branch.files.checks import (
    GZIP_MAGIC,
    SNIFF_BYTES,
    UnexpectedContent,
    check_content,
    check_csv_row,
    check_header,
    check_json_row,
    check_transfer,
    is_key_value,
)
from tap_branch.output.progress import progress_of
from tap_branch.redaction import SENSITIVE_QUERY_KEYS, strip_query

if t.TYPE_CHECKING:
    from tap_branch.api.stream import BranchStream

T = t.TypeVar("T")
Parser = t.Callable[[t.IO[bytes]], t.Iterator[T]]

# Export cells hold whole JSON documents; the csv module's default cap is 128 KiB.
csv.field_size_limit(2**31 - 1)

_CHUNK = 256 << 10  # read and buffered at a time: the memory of each of the two buffers
_ERROR_BODY_LIMIT = 1 << 16

#: Bytes a file must bring within `request_timeout` seconds of waiting (setting
#: `download_stall_bytes`). 1 MiB in the default 300 s is ~3.5 KB/s: a real file host sends
#: megabytes a second, a file at that pace would take days; yet a server that keeps each read
#: under the timeout (a byte a second) is caught within one `request_timeout`.
DEFAULT_STALL_BYTES = 1 << 20


#: Tries of a file whose body stalls (`StalledTransfer`, or nothing at all within
#: `request_timeout`), whatever `max_retries` says: each try costs a whole `request_timeout`,
#: so a host that keeps a file dripping fails it within about two of them (10 minutes at the
#: defaults), not six. A stall that passes is retried once.
STALL_TRIES = 2


class StalledTransfer(Exception):
    """A body that brought too few bytes for too long: retried like a broken transfer."""


#: How a stalled body ends: too few bytes (`PacedBody`), or none within the read timeout.
STALLS = (StalledTransfer, urllib3.exceptions.ReadTimeoutError, requests.exceptions.Timeout)


#: Failures while reading a body: the transfer broke, not the request.
BROKEN_TRANSFER = (
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ConnectionError,
    requests.exceptions.Timeout,
    urllib3.exceptions.ProtocolError,
    urllib3.exceptions.ReadTimeoutError,
    http.client.IncompleteRead,
    ConnectionError,
    EOFError,  # gzip stream ended before its end-of-stream marker
    StalledTransfer,
    zlib.error,
    deflate.ERROR,
    gzip.BadGzipFile,
)


def file_label(url: str) -> str:
    """How a file is named in logs and errors: its URL without the signed query string."""
    return strip_query(url)


#: Query parameters a URL signer adds (S3 SigV2 and SigV4, CloudFront, GCS), by lowercase name
#: or prefix: signing one file twice changes only these.
_SIGNING_PREFIXES = ("x-amz-", "x-goog-")
_SIGNING_KEYS = SENSITIVE_QUERY_KEYS | {"expires", "googleaccessid"}


def file_identity(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What two listed URLs must share to be one file: the URL without query, and the query's
    parameters other than a signer's. A file signed twice has one identity; URLs that differ in
    any other parameter (`?part=2`, `versionId=...`) may name two files, and both are read."""
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    kept = tuple(
        sorted(
            (key, value)
            for key, value in pairs
            if key.lower() not in _SIGNING_KEYS and not key.lower().startswith(_SIGNING_PREFIXES)
        )
    )
    return file_label(url), kept


def file_done_entry(index: int, url: str) -> str:
    """How a file read to its end is kept in state: its position in its list and its URL
    without the signed query (two files of a list may differ only in their query)."""
    return f"{index}:{file_label(url)}"


def files_to_read(urls: t.Sequence[str], done: t.Collection[str]) -> list[int]:
    """Positions of the files of `urls` not in `done` (`file_done_entry`s). A bare URL in
    `done`, as older versions kept it, stands for the first file with that URL. A list
    Branch answers in another order reads a file again rather than skip one."""
    finished = set(done)
    legacy = {entry for entry in finished if not entry.split(":", 1)[0].isdigit()}
    todo = []
    for index, url in enumerate(urls):
        if file_done_entry(index, url) in finished:
            continue
        if file_label(url) in legacy:
            legacy.discard(file_label(url))
            continue
        todo.append(index)
    return todo


def same_file_in(fresh: t.Sequence[str], index: int, url: str) -> str | None:
    """The URL in a fresh list of the file `url` was (at `index` of the old list): the one
    entry with its URL without query, or, where several share it, the one at `index`.
    None when the fresh list does not hold it: never another file in its place."""
    label = file_label(url)
    matches = [
        position for position, candidate in enumerate(fresh) if file_label(candidate) == label
    ]
    if len(matches) == 1:
        return fresh[matches[0]]
    if index in matches:
        return fresh[index]
    return None


#: A body that is not what Branch exports: retried like a broken transfer, then an error.
WRONG_CONTENT = (UnexpectedContent, UnicodeDecodeError, csv.Error)


def checked_body(
    response: requests.Response, url: str, *, least: int, seconds: float
) -> t.IO[bytes]:
    """The body as plain bytes, gunzipped when it starts with gzip's magic number,
    once its first bytes have passed `file_checks` (raises `UnexpectedContent`).
    Reading it raises `StalledTransfer` when fewer than `least` bytes arrive in `seconds`
    of waiting (`PacedBody`)."""
    raw = response.raw
    # urllib3 closes a body at its last byte by default; io wrappers then fail reading past it.
    raw.auto_close = False
    raw.decode_content = True  # undo a transport Content-Encoding; a .gz file body stays gzip
    buffered = io.BufferedReader(PacedBody(raw, least, seconds), buffer_size=_CHUNK)
    head = buffered.peek(SNIFF_BYTES)
    named_gzip = urlsplit(url).path.lower().endswith((".gz", ".gzip"))
    check_transfer(
        head,
        response.headers.get("Content-Type"),
        # a transport Content-Encoding: gzip was undone above; the name still says .gz
        gzip_expected=named_gzip and not response.headers.get("Content-Encoding"),
    )
    if not head.startswith(GZIP_MAGIC):
        check_content(head)
        return buffered
    body = io.BufferedReader(GunzipAhead(buffered), buffer_size=_CHUNK)
    try:
        check_content(body.peek(SNIFF_BYTES))
    except BaseException:
        body.close()  # stops the gunzip thread
        raise
    return body


class PacedBody(io.RawIOBase):
    """A response body read as it arrives, that raises `StalledTransfer` once it has waited
    `seconds` for fewer than `least` bytes.

    The socket's read timeout (`request_timeout`) ends a read that brings nothing, but a
    server sending a byte a second answers every read in time and never ends: only progress
    tells a stall. Each read takes what one socket read brings (`read1`), so the check runs
    at least once per `request_timeout`. Only time spent waiting for bytes counts: a reader
    that pauses (its target is busy) does not make the server slow.

    The first read gathers `SNIFF_BYTES` (or the whole body): `peek` returns one read, and
    the checks of a file's start (`file_checks`) must see its start, not a byte sent alone.
    """

    def __init__(self, raw: t.Any, least: int, seconds: float) -> None:
        self._raw = raw
        self._least = least
        self._seconds = seconds
        self._got = 0
        self._waited = 0.0
        self._started = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        size = self._read_once(buffer)
        if not self._started:
            self._started = True
            view = memoryview(buffer)
            while 0 < size < min(len(view), SNIFF_BYTES):
                more = self._read_once(view[size:])
                if not more:
                    break
                size += more
        return size

    def _read_once(self, buffer: t.Any) -> int:
        started = time.monotonic()
        data = self._raw.read1(len(buffer))
        self._waited += time.monotonic() - started
        size = len(data)
        self._got += size
        if self._got >= self._least:
            self._got, self._waited = 0, 0.0
        elif size and self._waited >= self._seconds:  # no bytes at all: the body ended
            raise StalledTransfer(
                f"stalled: {self._got} bytes in {self._waited:.1f} s, fewer than "
                f"download_stall_bytes ({self._least}) within request_timeout ({self._seconds:g} s)"
            )
        buffer[:size] = data
        return size


class GunzipAhead(io.RawIOBase):
    """The gunzipped bytes of a body, downloaded and inflated by a helper thread.

    Reading the socket and inflating release the GIL, so on a machine with two
    cores they run beside the CSV parsing and typing instead of taking turns
    with them. At most `_AHEAD` inflated chunks wait (memory stays bounded).
    Errors of the transfer or of the gzip stream (a truncated file raises
    EOFError, as `gzip` does) reach the reader at the point where they occurred.
    """

    _AHEAD = 4  # chunks of ~5 x _READ once inflated: a few MB at most
    _READ = 1 << 16

    def __init__(self, compressed: t.IO[bytes]) -> None:
        self._compressed = compressed
        self._chunks: queue.Queue = queue.Queue(self._AHEAD)
        self._current = memoryview(b"")
        self._ended = False
        self._stopped = threading.Event()
        threading.Thread(target=self._inflate_all, name="tap-branch-gunzip", daemon=True).start()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        while not self._current:
            if self._ended:
                return 0
            chunk = self._chunks.get()
            if isinstance(chunk, BaseException):
                self._ended = True
                raise chunk
            if chunk is None:
                self._ended = True
                return 0
            self._current = memoryview(chunk)
        size = min(len(buffer), len(self._current))
        buffer[:size] = self._current[:size]
        self._current = self._current[size:]
        return size

    def close(self) -> None:
        """Stop the helper: it may wait on a full queue or on the socket (closing the
        response ends that wait)."""
        self._stopped.set()
        while not self._chunks.empty():
            self._chunks.get_nowait()
        super().close()

    def _inflate_all(self) -> None:
        try:
            self._inflate()
            self._put(None)
        except BaseException as exc:  # handed to the reader, raised there
            self._put(exc)

    def _inflate(self) -> None:
        """Every member of the gzip stream (gzip files may be concatenated, and padded
        with zero bytes), like `gzip.GzipFile`; the inflater checks each trailer's CRC and size."""
        inflater = deflate.gunzipper()
        while not self._stopped.is_set():
            compressed = self._compressed.read(self._READ)
            if not compressed:
                break
            while compressed:
                if inflater.eof:
                    compressed = compressed.lstrip(b"\x00")
                    if not compressed:
                        break
                    inflater = deflate.gunzipper()
                inflated = inflater.decompress(compressed)
                if inflated:
                    self._put(inflated)
                compressed = inflater.unused_data  # the next member, when one ended here
        if not inflater.eof and not self._stopped.is_set():
            raise EOFError("Compressed file ended before the end-of-stream marker was reached")

    def _put(self, item: t.Any) -> None:
        while not self._stopped.is_set():
            try:
                self._chunks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def csv_rows(body: t.IO[bytes], key_columns: t.Sequence[str] = ()) -> t.Iterator[list[str]]:
    """CSV rows (header first) of a UTF-8 body; quoted cells may hold commas and newlines.

    The header must exist and name every one of `key_columns` once (`file_checks.check_header`).
    A row of another width than the header, or with an empty key cell, is not a row of a
    Branch export (a cut line, a stray quote): `file_checks.check_csv_row` raises naming its
    line. Blank lines (no cells) are passed on for the caller to skip.
    """
    rows = csv.reader(io.TextIOWrapper(body, encoding="utf-8-sig", newline=""))
    header = next(rows, None)
    check_header(header, key_columns)
    yield header
    width = len(header)
    keys = [header.index(column) for column in key_columns]
    for cells in rows:
        # Per row: one comparison, and one per key column, when all is well.
        if cells and (len(cells) != width or not all(cells[index] for index in keys)):
            check_csv_row(cells, rows.line_num, header, keys)  # raises, saying what is wrong
        yield cells


def json_lines(body: t.IO[bytes], key_columns: t.Sequence[str] = ()) -> t.Iterator[dict]:
    """Objects of a newline-delimited JSON body; blank lines are skipped.

    A line that is not a JSON object holding `key_columns` is not a row of a Branch export:
    it raises `UnexpectedContent` naming its line number (the file is retried, then fails).
    A row without its key cannot be stored under it, so it is never passed on half-read.
    """
    import msgspec

    decode = msgspec.json.decode
    keys = frozenset(key_columns)
    for number, line in enumerate(body, 1):
        line = line.strip()
        if not line:
            continue
        try:
            row = decode(line)
        except msgspec.DecodeError as exc:
            raise UnexpectedContent(f"line {number} is not valid JSON ({exc})") from None
        # Per line, when all is well: a type test, a key test and one call per key column.
        if (
            type(row) is not dict
            or not keys <= row.keys()
            or not all(is_key_value(row[key]) for key in keys)
        ):
            check_json_row(row, number, key_columns)  # raises, saying what is wrong
        yield row


def _keep_error_body(response: requests.Response) -> None:
    """Read the start of an error body, then release the connection.

    The error's description (S3's XML message, a 429's "retry after N seconds")
    is in the body, which a streamed response has not read yet; reading it
    after `close()` gives nothing. Error bodies are small; the cap keeps a
    misbehaving server's huge error page out of memory. Setting `_content` is
    how `requests` itself stores a body read once.
    """
    try:
        body = response.raw.read(_ERROR_BODY_LIMIT, decode_content=True) or b""
    except BROKEN_TRANSFER:
        body = b""
    finally:
        response.close()
    response._content = body
    response._content_consumed = True


def _no_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    return request


class FileReader:
    """Reads files for one stream, with its session, timeout and retry policy."""

    def __init__(self, stream: BranchStream) -> None:
        self.stream = stream
        self.logger = stream.logger
        self._open = stream.request_decorator(self._open_once)

    def _open_once(self, url: str) -> requests.Response:
        # Signed URLs carry their own credentials: no authenticator, no API headers.
        response = self.stream.requests_session.get(
            url,
            stream=True,
            timeout=self.stream.timeout,
            headers={"User-Agent": self.stream.user_agent},
            auth=_no_auth,  # never the session's API authenticator: no Access-Token to S3
        )
        if response.status_code < 400:
            return response
        _keep_error_body(response)
        if response.status_code == 403:
            raise SignedUrlExpiredError(describe_response(response))
        if response.status_code == 400:
            raise FileNotReadyError(describe_response(response))
        self.stream.validate_response(response)
        raise DownloadError(
            describe_response(response)
        )  # pragma: no cover - validate_response raised

    def items(
        self,
        url: str,
        parse: Parser[T],
        *,
        refresh: t.Callable[[], str] | None = None,
        skip: int = 0,
        size: t.Callable[[T], int] | None = None,
        source: str | None = None,
    ) -> t.Iterator[T]:
        """Every item `parse` finds in the file at `url`, each exactly once.

        `skip` items are passed over first (a resumed file). On a 403, `refresh()`
        must return a new URL for the same file; without it the 403 is raised.
        `size`: items hold several rows (columnar batches, whose boundaries need not be
        the same when the file is read again): counts and skips are then in rows, and a
        batch partly yielded before a retry is sliced.
        `source`: what the file is (stream, day or job, and its URL without query), for logs
        and errors; default its URL without query.
        """
        label = source or file_label(url)
        least = int(self.stream.config.get("download_stall_bytes") or DEFAULT_STALL_BYTES)
        done = skip
        tries = stalls = 0
        refreshes = 0
        started = time.monotonic()
        while True:
            try:
                response = self._open(url)
            except SignedUrlExpiredError:
                if refresh is None or refreshes >= 2:
                    raise
                refreshes += 1
                self.logger.info("Signed URL of %s expired; asking Branch for a fresh one", label)
                url = refresh()
                continue
            except BROKEN_TRANSFER as exc:  # every try of the request (its retries) failed
                raise DownloadError(
                    f"{label}: no answer after {self.stream.backoff_max_tries()} tries "
                    f"({_transfer_failure(exc, self.stream.timeout)})"
                ) from None
            try:
                # Closed in reverse order however the reading ends: the parser first (it may
                # hold a reader with threads of its own, pyarrow's), then the body (GunzipAhead).
                with (
                    response,
                    checked_body(response, url, least=least, seconds=self.stream.timeout) as body,
                    _closed_after(parse(body)) as parsed,
                ):
                    for item in _after(parsed, done, size):  # skips what was yielded before
                        yield item
                        done += size(item) if size else 1
                    wire_bytes = response.raw.tell()  # as sent (compressed), this try's
                progress_of(self.stream).file_read(
                    self.stream.name, label, done - skip, wire_bytes, time.monotonic() - started
                )
                return
            except BROKEN_TRANSFER as exc:
                tries += 1
                stalls += isinstance(exc, STALLS)
                self._retry_or_fail(
                    tries,
                    last=stalls >= STALL_TRIES,
                    failed=f"the download broke off {tries} times, last after {done} items "
                    f"({_transfer_failure(exc, self.stream.timeout)})",
                    retrying=f"download broke off after {done} items ({type(exc).__name__})",
                    label=label,
                    done=done,
                )
            except WRONG_CONTENT as exc:
                tries += 1
                reason = _content_reason(exc, done)
                self._retry_or_fail(
                    tries,
                    failed=f"not a Branch export file: {reason} (gave up after {tries} tries)",
                    retrying=f"not a Branch export file: {reason}",
                    label=label,
                    done=done,
                )
            except RateLimitedError:
                raise

    def _retry_or_fail(
        self, tries: int, *, failed: str, retrying: str, label: str, done: int, last: bool = False
    ) -> None:
        """Wait before the next try of a file, or raise `DownloadError` once tries run out
        (or this was the `last` one allowed)."""
        if last or tries >= self.stream.backoff_max_tries():
            raise DownloadError(f"{label}: {failed}") from None
        wait = min(60.0, float(self.stream.config.get("backoff_factor", 2)) * 2 ** (tries - 1))
        self.logger.warning(
            "%s: %s; retrying in %.1f s, resuming after item %d", label, retrying, wait, done
        )
        time.sleep(wait)


@contextlib.contextmanager
def _closed_after(items: t.Iterator[T]) -> t.Iterator[t.Iterator[T]]:
    """`items`, closed at the end when it can be (a generator: its `finally` runs now)."""
    try:
        yield items
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            close()


def _after(items: t.Iterator[T], count: int, size: t.Callable[[T], int] | None) -> t.Iterator[T]:
    """`items` without their first `count` items, or rows when `size` counts the rows of one."""
    if size is None:
        yield from itertools.islice(items, count, None)
        return
    for item in items:
        rows = size(item)
        if count >= rows:
            count -= rows
            continue
        if count:
            item = item.slice(count)  # type: ignore[attr-defined]
            count = 0
        yield item


def _transfer_failure(exc: BaseException, timeout: float) -> str:
    return str(exc) if isinstance(exc, StalledTransfer) else no_answer_reason(exc, timeout)


def _content_reason(exc: BaseException, done: int) -> str:
    if isinstance(exc, UnexpectedContent):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text near item {done + 1}"
    return f"not readable as CSV near item {done + 1} ({exc})"
