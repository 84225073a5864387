"""What an export file must look like before its rows are trusted.

A signed URL can answer 200 with something that is not the export: an HTML or
XML page (a proxy, a captive portal, S3's own error document), an empty body,
a JSON error document, a file whose header lost or renamed a column. Read as
data, each of these yields no rows, or rows without their primary key, and the
day would be bookmarked as done. Every check here raises `UnexpectedContent`;
`downloads.FileReader` retries the file like a broken transfer, then fails
naming it (its URL without the signature).

The checks never quote the body: an error page may echo what it was asked.
"""

from __future__ import annotations

import typing as t

#: Bytes looked at before any row is parsed.
SNIFF_BYTES = 512
GZIP_MAGIC = b"\x1f\x8b"
#: Content types an export file never has (Branch's files are gzip, CSV, JSON or parquet).
_MARKUP_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xml", "text/xml"})
_HEADER_EXCERPT = 300


class UnexpectedContent(ValueError):
    """A file answered with something that is not a Branch export (the reason, without the file)."""


def check_transfer(head: bytes, content_type: str | None, *, gzip_expected: bool) -> None:
    """The body as it came over the wire: not empty, not a web page, gzip when named .gz.

    `head` is the start of the body (after any transport Content-Encoding).
    """
    if not head:
        raise UnexpectedContent("the file is empty (0 bytes)")
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in _MARKUP_TYPES:
        raise UnexpectedContent(f"the answer is {media_type} ({kind_of(head)}), not an export file")
    if gzip_expected and not head.startswith(GZIP_MAGIC):
        raise UnexpectedContent(f"the file is not gzip although its name says so: {kind_of(head)}")


def check_content(head: bytes) -> None:
    """The (gunzipped) content: export data, not a markup document."""
    if _significant(head).startswith(b"<"):
        raise UnexpectedContent(f"the file holds {kind_of(head)}, not export data")


def check_header(header: t.Sequence[str] | None, key_columns: t.Iterable[str]) -> None:
    """A CSV export starts with its header line, which names the stream's key columns."""
    if header is None or not any(cell.strip() for cell in header):
        raise UnexpectedContent("the file has no header line")
    missing = [column for column in key_columns if column not in header]
    if missing:
        raise UnexpectedContent(
            f"its header has no {', '.join(repr(c) for c in missing)} column (the stream's key); "
            f"header: {header_excerpt(header)}"
        )
    twice = sorted({column for column in header if header.count(column) > 1})
    if twice:  # one of the two columns' cells would be lost
        raise UnexpectedContent(
            f"its header names {', '.join(repr(c) for c in twice)} more than once; "
            f"header: {header_excerpt(header)}"
        )


def check_csv_row(
    cells: t.Sequence[str], line: int, header: t.Sequence[str], keys: t.Sequence[int]
) -> None:
    """One row of a CSV export: as many cells as its header, and its key cells not empty.

    A row of another width is a line cut short, or joined to the next one by a cut or a
    stray quote: its cells no longer sit under their columns, and read anyway they would
    load as nulls Branch never sent, or as values in the wrong columns. A row without its
    key cannot be stored under it. The message names the line, never the cells (personal
    data).
    """
    if len(cells) != len(header):
        raise UnexpectedContent(
            f"the row ending at line {line} has {len(cells)} cells, its header "
            f"{len(header)} (a cut or misquoted line)"
        )
    for index in keys:
        if not cells[index]:
            raise UnexpectedContent(
                f"the row ending at line {line} has an empty {header[index]!r} cell "
                "(the stream's key)"
            )


def check_json_row(row: t.Any, line: int, key_columns: t.Iterable[str]) -> dict:
    """One line of a newline-delimited JSON export: an object holding the key fields."""
    if type(row) is not dict:
        raise UnexpectedContent(
            f"line {line} is a JSON {json_kind(row)}, not an object (one row per line)"
        )
    for column in key_columns:
        if column not in row:
            raise UnexpectedContent(f"line {line} has no {column!r} field (the stream's key)")
        if not is_key_value(row[column]):
            value = row[column]
            raise UnexpectedContent(
                f"line {line}'s {column!r} (the stream's key) is "
                + ("empty" if value == "" else f"a JSON {json_kind(value)}")
            )
    return row


def is_key_value(value: t.Any) -> bool:
    """A value a row can be stored under: a non-empty string or a number."""
    return (type(value) is str and value != "") or (type(value) in (int, float) and value == value)


def header_excerpt(header: t.Sequence[str]) -> str:
    text = ",".join(header)
    return text if len(text) <= _HEADER_EXCERPT else text[:_HEADER_EXCERPT] + "..."


def kind_of(head: bytes) -> str:
    """What a body looks like, in words (never its content)."""
    start = _significant(head)[:64].lower()
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start:
        return "an HTML page"
    if start.startswith(b"<"):
        return "an XML document"
    if start.startswith(GZIP_MAGIC):
        return "gzip data"
    if start[:1] in (b"{", b"[", b'"'):
        return "JSON"
    if not start:
        return "only blank space"
    return "text or binary data"


def _significant(head: bytes) -> bytes:
    return head.lstrip(b"\xef\xbb\xbf \t\r\n")


def json_kind(value: t.Any) -> str:
    """A decoded JSON value's kind, in JSON's words."""
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"
