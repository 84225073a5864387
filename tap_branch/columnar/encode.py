"""Whole columns of CSV text turned into JSON text, a pyarrow compute call at a time.

Each encoder takes a column of cells (a pyarrow string array, "" for an empty cell) and
returns, per row, the JSON text of the cell's typed value: `null` for an empty cell, and
for the others what `tap_branch.typing`'s converter of that column gives once encoded.
The text comes as `pieces`, constant texts and arrays that the record assembly
(`records.ColumnarTyper`) concatenates row by row, so that the usual case costs no
array of its own (a timestamp column is `"` + the cells + `+00:00"`).

Branch's usual forms of a cell are recognised for a whole column at once and encoded
without a Python object per cell; a column holding any other form goes through the row
path's own converter cell by cell (`_convert_each`), so an unusual cell is typed the same
way on both paths, and one that does not parse comes back in `Encoded.unparsed` with its
raw text. JSON-in-CSV cells (objects, arrays) are validated by msgspec in one call per
column and written as they came; the row path decodes and re-encodes them, so the two
paths give equal values, not always equal bytes.
"""

from __future__ import annotations

import dataclasses
import typing as t

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from tap_branch import typing as rows

Piece = str | pa.Array

#: The 32 characters JSON strings must escape, with msgspec's escapes (the row path's output).
_CONTROL = {chr(code): msgspec.json.encode(chr(code)).decode()[1:-1] for code in range(0x20)}
_CONTROL_TO_ZERO = bytes.maketrans(bytes(range(1, 0x20)), b"\x00" * 0x1F)

_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: Regular expressions of the forms typed in bulk when a column mixes them.
_ISO_MILLIS_Z = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"
_ISO_NO_ZONE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
_EPOCH_MILLIS = r"^[1-9][0-9]{12}$"
_INTEGER = r"^(0|-?[1-9][0-9]{0,17})$"
#: Decimals whose float prints back as the same text (at most 13 significant digits, no
#: trailing zero, not so small that Python's repr turns to an exponent).
_NUMBER = r"^-?(0|[1-9][0-9]{0,5})\.[0-9]{0,6}[1-9]$"
_TINY_NUMBER = r"^-?0\.000"
#: A Python list literal of plain strings, as the legacy export writes tags: ['iOS', 'vip'].
_TEXT_LIST_LITERAL = r"^\[('[^'\"\\\x00-\x1f]*'(, ?'[^'\"\\\x00-\x1f]*')*)?\]$"
#: What only a Python list literal has: a string in single quotes at an item's start or end.
_PYTHON_LIST_MARKS = r"(^\[')|(, ?')|(',)|('\]$)"
#: Exponents msgspec refuses as out of range, though JSON allows them.
_HUGE_EXPONENT = r"[0-9][eE][+-]?[0-9]{3}"

_TRUE = sorted(
    {form for word in rows.TRUE_WORDS for form in (word, word.capitalize(), word.upper())}
)
_FALSE = sorted(
    {form for word in rows.FALSE_WORDS for form in (word, word.capitalize(), word.upper())}
)


@dataclasses.dataclass
class Encoded:
    """Per row, the JSON text of a cell's value, as pieces to concatenate; and the raw text
    of the cells that did not parse, by row."""

    pieces: list[Piece]
    unparsed: dict[int, str] = dataclasses.field(default_factory=dict)


Encoder = t.Callable[[pa.Array], Encoded]


def text_bytes(texts: pa.Array) -> bytes:
    """The UTF-8 bytes of a string array's values, one after the other."""
    return bytes(text_view(texts))


def text_view(texts: pa.Array) -> memoryview:
    """`text_bytes` without the copy: a view of the array's memory, which it keeps alive.
    For writing; searching it (`in`) would look for an int, not a substring."""
    if len(texts) == 0:
        return memoryview(b"")
    offsets = memoryview(texts.buffers()[1]).cast("i")
    start, end = offsets[texts.offset], offsets[texts.offset + len(texts)]
    return memoryview(texts.buffers()[2])[start:end]


def _around(cells: pa.Array, before: str, value: pa.Array, after: str) -> list[Piece]:
    """`before` + value + `after` for the rows with a cell; `null` for the empty ones
    (whose `value` must be "")."""
    empty = pc.equal(cells, "")
    empties = empty.true_count
    if not empties:
        return [before, value, after]
    if empties == len(empty):  # a column empty in the whole batch: common in exports
        return ["null"]
    return [pc.if_else(empty, "null", before), value, pc.if_else(empty, "", after)]


def _escaped(cells: pa.Array) -> pa.Array:
    """Cells as the inside of JSON strings, escaped as msgspec escapes them. The searches run
    over the column's bytes at memchr speed; replacing runs only where needed."""
    data = text_bytes(cells)
    if b"\\" in data:
        cells = pc.replace_substring(cells, "\\", "\\\\")
    if b'"' in data:
        cells = pc.replace_substring(cells, '"', '\\"')
    if b"\x00" in data.translate(_CONTROL_TO_ZERO):
        for char, escaped in _CONTROL.items():
            if char.encode() in data:
                cells = pc.replace_substring(cells, char, escaped)
    return cells


def text(cells: pa.Array) -> Encoded:
    """A text column: the cell as a JSON string, an empty cell null."""
    return Encoded(_around(cells, '"', _escaped(cells), '"'))


def date_time(cells: pa.Array) -> Encoded:
    """ISO-8601 UTC text, as `tap_branch.typing.parse_datetime` writes it."""
    present = cells.filter(pc.not_equal(cells, ""))
    if len(present) == 0:
        return Encoded(["null"])
    lengths = pc.binary_length(present)
    shortest, longest = pc.min_max(lengths).values()
    if shortest.as_py() == longest.as_py() == 19 and _iso_seconds(present):
        # The legacy daily export's zone-less UTC form: 2018-07-11T09:43:01.
        return Encoded(_around(cells, '"', cells, '+00:00"'))
    if (
        shortest.as_py() == longest.as_py() == 24
        and pc.all(pc.ends_with(present, "Z")).as_py()
        and _iso_seconds(pc.utf8_slice_codeunits(present, 0, 19))
        and pc.all(
            pc.match_substring_regex(pc.utf8_slice_codeunits(present, 19, 23), r"^\.[0-9]{3}$")
        ).as_py()
    ):
        # Branch's usual form, 2024-05-01T12:34:56.789Z: the same digits, in microseconds.
        base = pc.utf8_slice_codeunits(cells, 0, 23)
        return Encoded(_around(cells, '"', base, '000+00:00"'))
    if (
        shortest.as_py() == longest.as_py() == 13
        and pc.all(pc.match_substring_regex(present, _EPOCH_MILLIS)).as_py()
    ):
        # Epoch milliseconds (Daily Exports v3's form): printed from the instant.
        return Encoded(_around(cells, '"', _millis_text(cells), '+00:00"'))
    return _date_time_mixed(cells)


def _millis_text(cells: pa.Array) -> pa.Array:
    """13-digit epoch milliseconds as `datetime.isoformat()` prints them: no fraction when it is
    zero, else microseconds. Cells of another form give "" (the callers mask them)."""
    millis = pc.match_substring_regex(cells, _EPOCH_MILLIS)
    as_millis = pc.cast(pc.if_else(millis, cells, "0"), pa.int64())
    printed = pc.utf8_replace_slice(
        pc.cast(pc.cast(as_millis, pa.timestamp("ms")), pa.string()), 10, 11, "T"
    )  # 2026-11-20T19:31:46.789
    text = pc.if_else(
        pc.ends_with(printed, ".000"),
        pc.utf8_slice_codeunits(printed, 0, 19),
        pc.binary_join_element_wise(printed, "000", ""),
    )
    return pc.if_else(millis, text, "")


def _iso_seconds(texts: pa.Array) -> bool:
    """Whether every text is YYYY-MM-DDTHH:MM:SS naming a real second of a year from 1 on."""
    if pc.any(pc.starts_with(texts, "0000")).as_py():
        return False
    shaped = pc.strptime(texts, format=_SECONDS_FORMAT, unit="s", error_is_null=True)
    if shaped.null_count:
        return False
    try:  # strptime rolls Feb 30 over into March; the cast refuses it
        pc.cast(texts, pa.timestamp("s"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def _date_time_mixed(cells: pa.Array) -> Encoded:
    """A column mixing forms: each usual form in bulk where valid, the rest cell by cell."""
    empty = pc.equal(cells, "")
    seconds = pc.utf8_slice_codeunits(cells, 0, 19)
    parsed = pc.strptime(seconds, format=_SECONDS_FORMAT, unit="s", error_is_null=True)
    # A real second: printed back, the text is the same (strptime rolls Feb 30 over).
    printed = pc.utf8_replace_slice(pc.cast(parsed, pa.string()), 10, 11, "T")
    valid = pc.and_(
        pc.fill_null(pc.equal(printed, seconds), False), pc.invert(pc.starts_with(cells, "0000"))
    )
    iso_z = pc.and_(pc.match_substring_regex(cells, _ISO_MILLIS_Z), valid)
    no_zone = pc.and_(pc.match_substring_regex(cells, _ISO_NO_ZONE), valid)
    millis = pc.match_substring_regex(cells, _EPOCH_MILLIS)
    bulk = pc.case_when(
        pc.make_struct(iso_z, no_zone, millis),
        pc.binary_join_element_wise('"', pc.utf8_slice_codeunits(cells, 0, 23), '000+00:00"', ""),
        pc.binary_join_element_wise('"', cells, '+00:00"', ""),
        pc.binary_join_element_wise('"', _millis_text(cells), '+00:00"', ""),
    )
    done = pc.or_(pc.or_(iso_z, no_zone), millis)
    return _by_pattern(cells, empty, done, bulk, rows.parse_datetime)


def _by_pattern(
    cells: pa.Array, empty: pa.Array, done: pa.Array, bulk: pa.Array, convert: rows.Converter
) -> Encoded:
    """`bulk` where `done`, null where the cell is empty, `convert` for every other cell."""
    if empty.true_count == len(empty):
        return Encoded(["null"])
    json = pc.if_else(empty, "null", pc.if_else(done, bulk, pa.scalar(None, pa.string())))
    rest = pc.invert(pc.or_(done, empty))
    if not rest.true_count:
        return Encoded([json])
    return _convert_each(cells, json, rest, convert)


def _convert_each(
    cells: pa.Array, json: pa.Array, which: pa.Array, convert: rows.Converter
) -> Encoded:
    """The row path's converter on the cells `which` selects, once per distinct cell (the
    rare forms repeat: a tags list, a date written another way)."""
    positions = pc.indices_nonzero(which)
    distinct = pc.dictionary_encode(cells.take(positions))
    texts: list[str] = []
    failed: list[int] = []
    for number, cell in enumerate(distinct.dictionary.to_pylist()):
        try:
            texts.append(msgspec.json.encode(convert(cell)).decode())
        except rows.CELL_ERRORS:
            texts.append("null")
            failed.append(number)
    values = pa.array(texts, pa.string()).take(distinct.indices)
    unparsed: dict[int, str] = {}
    if failed:
        bad = pc.indices_nonzero(pc.is_in(distinct.indices, value_set=pa.array(failed, pa.int32())))
        for where in bad.to_pylist():
            unparsed[positions[where].as_py()] = distinct.dictionary[
                distinct.indices[where].as_py()
            ].as_py()
    return Encoded([pc.replace_with_mask(json, which, values)], unparsed)


def integer(cells: pa.Array) -> Encoded:
    empty = pc.equal(cells, "")
    done = pc.match_substring_regex(cells, _INTEGER)
    return _by_pattern(cells, empty, done, cells, rows.parse_integer)


def raw_millis(cells: pa.Array) -> Encoded:
    """An epoch-ms cell as its integer, null when it is not one (`ontology._raw_millis`):
    the date-time field beside it keeps what did not parse."""
    return Encoded(integer(cells).pieces)


def number(cells: pa.Array) -> Encoded:
    """Short plain decimals print back as themselves (float repr); anything else goes
    through float() (msgspec writes 3 as 3.0, 1e-05 with an exponent)."""
    empty = pc.equal(cells, "")
    done = pc.and_(
        pc.match_substring_regex(cells, _NUMBER),
        pc.invert(pc.match_substring_regex(cells, _TINY_NUMBER)),
    )
    return _by_pattern(cells, empty, done, cells, rows.parse_number)


def boolean(cells: pa.Array) -> Encoded:
    empty = pc.equal(cells, "")
    true = pc.is_in(cells, value_set=pa.array(_TRUE))
    false = pc.is_in(cells, value_set=pa.array(_FALSE))
    bulk = pc.if_else(true, "true", "false")
    return _by_pattern(cells, empty, pc.or_(true, false), bulk, rows.parse_boolean)


def json_of(convert: rows.JsonConverter) -> Encoder:
    """The row path's JSON objects or arrays (`convert.expected`) in cells, written as they
    are once valid and, where the schema says what they hold (`convert.shape`), once the
    whole column's values match it; arrays may be Python list literals of strings."""
    opening = "{" if convert.expected is dict else "["
    text_lists = convert.expected is list
    inside = None if convert.shape is None else msgspec.json.Decoder(list[convert.shape])

    def encode(cells: pa.Array) -> Encoded:
        empty = pc.equal(cells, "")
        slow = None
        raw = cells  # what a cell that does not parse keeps in `unparsed_cells`, as Branch wrote it
        if text_lists:
            cells, slow = _text_lists_as_json(cells)
        bulk = pc.invert(empty) if slow is None else pc.invert(pc.or_(empty, slow))
        if _all_json_values(cells.filter(bulk), opening, inside):
            if slow is None:
                return Encoded(_around(cells, "", cells, ""))
            json = pc.if_else(empty, "null", pc.if_else(slow, pa.scalar(None, pa.string()), cells))
            return _convert_each(raw, json, slow, convert)
        # Some cell is not exactly one JSON value of the column's kind (`['a']` in a column of
        # booleans): the row path's way, on the cells as written.
        return _convert_each(raw, pc.if_else(empty, "null", ""), pc.invert(empty), convert)

    return encode


def _text_lists_as_json(cells: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """`['a', 'b']` (a Python literal of plain strings) as the JSON `["a","b"]`; and which
    cells still look like Python literals (mixed quotes: `["it's", 'vip']`), for the row path."""
    if b"'" not in text_bytes(cells):
        return cells, None
    literal = pc.match_substring_regex(cells, _TEXT_LIST_LITERAL)
    as_json = pc.replace_substring(pc.replace_substring(cells, "', '", "','"), "'", '"')
    cells = pc.if_else(literal, as_json, cells)
    python_like = pc.match_substring_regex(cells, _PYTHON_LIST_MARKS)
    return cells, (python_like if python_like.true_count else None)


def _all_json_values(present: pa.Array, opening: str, inside: msgspec.json.Decoder | None) -> bool:
    """Whether every cell is exactly one JSON value opening with `opening` (and matching
    `inside`'s items). The cells are decoded as one JSON array (msgspec.Raw keeps each
    value's bytes) and encoded back: the same bytes come back only when the values are the
    cells, one each, without blanks."""
    if len(present) == 0:
        return True
    if not pc.all(pc.starts_with(present, opening)).as_py():
        return False
    document = b"[" + text_bytes(pc.binary_join_element_wise(present, ",", ""))[:-1] + b"]"
    if b"\n" in document or b"\r" in document:
        return False  # whitespace between tokens, which would cut the record's line
    if pc.any(pc.match_substring_regex(pa.array([document], pa.binary()), _HUGE_EXPONENT)).as_py():
        return False
    try:
        values = msgspec.json.decode(document, type=list[msgspec.Raw])
        if inside is not None:
            inside.decode(document)
    except msgspec.DecodeError:  # a ValidationError too: some value's inside is not the schema's
        return False
    return len(values) == len(present) and msgspec.json.encode(values) == document
