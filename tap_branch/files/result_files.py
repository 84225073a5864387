"""Result files of Branch's asynchronous aggregate jobs (cohorts, Aggregate Exports), read a
row at a time: a JSON array of objects, or a CSV with a header.

What is not such a file is never read as one: a JSON body that is not one whole array of
objects (no closing `]`, blank, text after it), or a CSV without its header or with a line of
the wrong cell count, raises `UnexpectedContent` (the download is retried, then fails naming
the file).
"""

from __future__ import annotations

import csv
import io
import json
import typing as t

from tap_branch.files.checks import UnexpectedContent, check_csv_row, check_header

_CHUNK = 1 << 16
_SPACE = " \t\r\n"
_DECODER = json.JSONDecoder()


def json_array_items(body: t.IO[bytes]) -> t.Iterator[dict]:
    """The objects of the JSON array that is the whole result, one at a time, without
    reading the file whole (it may be pretty-printed over many lines).

    Raises `UnexpectedContent` for anything else: a blank body, no `[`, an item that is
    not an object, a missing `,` or closing `]` (a file cut at a row boundary would
    otherwise read as a complete, shorter result), text after the `]`.
    """
    text = _JsonText(body)
    if text.next_char() != "[":
        raise UnexpectedContent(
            "the JSON result is blank"
            if not text.next_char()
            else "the JSON result is not an array"
        )
    text.take()
    if text.next_char() == "]":
        text.take()
    else:
        yield from _array_rows(text)
    if text.next_char():
        raise UnexpectedContent("the JSON result goes on after its array's closing ']'")


def _array_rows(text: _JsonText) -> t.Iterator[dict]:
    """The rows of a non-empty array whose `[` was read, up to and including its `]`."""
    number = 0
    while True:
        if text.next_char() != "{":
            raise UnexpectedContent(
                f"item {number + 1} of the JSON array is not a row object"
                if text.next_char()
                else f"the JSON array ends after row {number} without its closing ']'"
            )
        number += 1
        yield text.row(number)
        separator = text.next_char()
        if not separator:
            raise UnexpectedContent(
                f"the JSON array ends after row {number} without its closing ']'"
            )
        if separator not in ",]":
            raise UnexpectedContent(f"row {number} of the JSON array is not followed by ',' or ']'")
        text.take()
        if separator == "]":
            return


class _JsonText:
    """A JSON text read a chunk at a time: the next significant character, and whole objects."""

    def __init__(self, body: t.IO[bytes]) -> None:
        self._text = io.TextIOWrapper(body, encoding="utf-8-sig")
        self._buffer, self._position, self._exhausted = "", 0, False

    def next_char(self) -> str:
        """The next character that is not blank space, not consumed; "" at the end."""
        while True:
            buffer, position = self._buffer, self._position
            while position < len(buffer) and buffer[position] in _SPACE:
                position += 1
            self._position = position
            if position < len(buffer):
                return buffer[position]
            if not self._more():
                return ""

    def take(self) -> None:
        self._position += 1

    def row(self, number: int) -> dict:
        """The object starting at the current position (row `number`, for errors)."""
        while True:
            try:
                # An object ends with its closing brace: once it decodes, it is whole.
                item, self._position = _DECODER.raw_decode(self._buffer, self._position)
                return item
            except json.JSONDecodeError as exc:
                if not self._more():
                    raise UnexpectedContent(
                        f"row {number} of the JSON array is cut or not valid JSON ({exc.msg})"
                    ) from None

    def _more(self) -> bool:
        """Read the next chunk onto what is left of the buffer; False at the end."""
        if self._exhausted:
            return False
        chunk = self._text.read(_CHUNK)
        self._buffer, self._position = self._buffer[self._position :] + chunk, 0
        self._exhausted = not chunk
        return bool(chunk)


def csv_dicts(body: t.IO[bytes], key_columns: t.Sequence[str] = ()) -> t.Iterator[dict]:
    """CSV rows as {header: cell} dicts; an empty cell is None (null).

    The header must exist and name `key_columns`; a line with more or fewer cells than
    the header (a row cut short, a stray comma) raises `UnexpectedContent` naming it:
    its cells cannot be matched to their columns.
    """
    reader = csv.reader(io.TextIOWrapper(body, encoding="utf-8-sig", newline=""))
    header = next(reader, None)
    if header is not None:
        header = [column.strip() for column in header]
    check_header(header, key_columns)
    width = len(header)
    for cells in reader:
        if not cells:
            continue  # a blank line is not a row
        if len(cells) != width:
            check_csv_row(cells, reader.line_num, header, ())  # raises, naming the line
        yield {
            column: cell if cell != "" else None for column, cell in zip(header, cells, strict=True)
        }
