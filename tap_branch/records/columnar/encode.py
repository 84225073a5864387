"""Whole columns of CSV text turned into JSON text, a pyarrow compute call at a time.

Each encoder takes a column of cells (a pyarrow string array, "" for an empty cell) and
returns, per row, the JSON text of the cell's typed value: `null` for an empty cell, and
for the others what `tap_branch.records.typers`'s converter of that column gives once encoded.
The text comes as `pieces`, constant texts and arrays that the record assembly
(`records.ColumnarTyper`) concatenates row by row, so that the usual case costs no
array of its own (a timestamp column is `"` + the cells + `+00:00"`).

Every form of a cell the row path reads in bulk is typed in bulk, without a Python object
per cell: a column of one form in one call (timestamps by Arrow's ISO-8601 cast), a column
mixing forms split by form. Only the cells that are odd go through the row path's own
converter (`_convert_each`, once per distinct cell), so an unusual cell is typed the same
way on both paths, and one that does not parse comes back in `Encoded.unparsed` with its
raw text. JSON-in-CSV cells (objects, arrays) are validated by msgspec in one call per
column and written as they came; the row path decodes and re-encodes them, so the two
paths give equal values, not always equal bytes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import sys
import typing as t

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from tap_branch.records import typers as rows

Piece = str | pa.Array

#: The 32 characters JSON strings must escape, with msgspec's escapes (the row path's output).
_CONTROL = {chr(code): msgspec.json.encode(chr(code)).decode()[1:-1] for code in range(0x20)}
_CONTROL_TO_ZERO = bytes.maketrans(bytes(range(1, 0x20)), b"\x00" * 0x1F)

_SECONDS_FORMAT = "%Y-%m-%dT%H:%M:%S"
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
#: Exponents of 3 digits: msgspec refuses the large ones as out of range (JSON allows them),
#: and writes the tiny ones as 0.0, as the row path does. Searched for without the digit
#: before them first, which takes half the time, and with it where that finds some.
_MAYBE_EXPONENT = r"[eE][+-]?[0-9]{3}"
_EXPONENT = r"[0-9][eE][+-]?[0-9]{3}"

_TRUE = pa.array(
    sorted({form for word in rows.TRUE_WORDS for form in (word, word.capitalize(), word.upper())})
)
_FALSE = pa.array(
    sorted({form for word in rows.FALSE_WORDS for form in (word, word.capitalize(), word.upper())})
)


@functools.cache
def _text_scalar(text: str) -> pa.Scalar:
    """`text` as an Arrow scalar, made once: pyarrow converts a Python str argument of a
    compute call anew each time (~10 us: as much as the call's work on a batch's column)."""
    return pa.scalar(text, pa.string())


_EMPTY, _NULL = _text_scalar(""), _text_scalar("null")
_NO_TEXT = pa.scalar(None, pa.string())


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
    return _around_each([cells], pc.equal(cells, _EMPTY), before, value, after)[0]


def _around_each(
    columns: t.Sequence[pa.Array], empty: pa.Array, before: str, value: pa.Array, after: str
) -> list[list[Piece]]:
    """`_around` of each of `columns`, typed as one column (`empty`, `value`: of all their
    cells, one column after the other)."""
    opening = closing = None
    each: list[list[Piece]] = []
    start = 0
    for column in columns:
        rows = len(column)
        empties = empty.slice(start, rows).true_count
        if not empties:
            each.append([before, value.slice(start, rows), after])
        elif empties == rows:  # a column empty in the whole batch: common in exports
            each.append(["null"])
        else:
            if opening is None:
                opening = pc.if_else(empty, _NULL, _text_scalar(before))
                closing = pc.if_else(empty, _EMPTY, _text_scalar(after))
            each.append(
                [opening.slice(start, rows), value.slice(start, rows), closing.slice(start, rows)]
            )
        start += rows
    return each


def _escaped(cells: pa.Array) -> pa.Array:
    """Cells as the inside of JSON strings, escaped as msgspec escapes them. The searches run
    over the column's bytes at memchr speed; replacing runs only where needed."""
    data = text_bytes(cells)
    return _escaped_in(cells, data, data.translate(_CONTROL_TO_ZERO), 0, len(data))


def _escaped_in(cells: pa.Array, data: bytes, zeroed: bytes, start: int, end: int) -> pa.Array:
    """`_escaped` of cells whose text is `data[start:end]`, searched there without a copy
    (`zeroed`: `data` with its control characters as NUL)."""
    if data.find(b"\\", start, end) >= 0:
        cells = pc.replace_substring(cells, "\\", "\\\\")
    if data.find(b'"', start, end) >= 0:
        cells = pc.replace_substring(cells, '"', '\\"')
    if zeroed.find(b"\x00", start, end) >= 0:
        for char, escaped in _CONTROL.items():
            if data.find(char.encode(), start, end) >= 0:
                cells = pc.replace_substring(cells, char, escaped)
    return cells


def text(cells: pa.Array) -> Encoded:
    """A text column: the cell as a JSON string, an empty cell null."""
    return Encoded(_around(cells, '"', _escaped(cells), '"'))


def texts(columns: t.Sequence[pa.Array]) -> list[Encoded]:
    """`text` of several columns of a batch, typed as one column: an events export has
    three dozen, and each compute call has a fixed cost that one call over all pays once.
    Only the columns holding a character to escape are escaped (a replace is a pass over
    every cell it is given)."""
    if len(columns) <= 1:
        return [text(column) for column in columns]
    cells = pa.concat_arrays(list(columns))
    data = text_bytes(cells)
    zeroed = data.translate(_CONTROL_TO_ZERO)
    escaped = cells
    if b"\\" in data or b'"' in data or b"\x00" in zeroed:
        ends = memoryview(cells.buffers()[1]).cast("i")
        parts = []
        first = 0
        for column in columns:
            last = first + len(column)
            parts.append(_escaped_in(column, data, zeroed, ends[first], ends[last]))
            first = last
        escaped = pa.concat_arrays(parts)
    empty = pc.equal(cells, _EMPTY)
    return [Encoded(pieces) for pieces in _around_each(columns, empty, '"', escaped, '"')]


def date_time(cells: pa.Array) -> Encoded:
    """ISO-8601 UTC text, as `tap_branch.records.typers.parse_datetime` writes it."""
    present = cells.filter(pc.not_equal(cells, _EMPTY))
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
    return _date_time_forms(cells)


def date_times(columns: t.Sequence[pa.Array]) -> list[Encoded]:
    """`date_time` of several columns of a batch, typed as one column: a batch's timestamp
    columns (nine in an events export) share their forms, and each compute call has a fixed
    cost (~5-15 us) that one call over all of them pays once."""
    if len(columns) <= 1:
        return [date_time(column) for column in columns]
    together = date_time(pa.concat_arrays(list(columns)))
    encoded: list[Encoded] = []
    start = 0
    for column in columns:
        end = start + len(column)
        pieces = [
            piece if isinstance(piece, str) else piece.slice(start, len(column))
            for piece in together.pieces
        ]
        unparsed = {
            row - start: raw for row, raw in together.unparsed.items() if start <= row < end
        }
        encoded.append(Encoded(pieces, unparsed))
        start = end
    return encoded


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
        pc.binary_join_element_wise(printed, "000", _EMPTY),
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


def _date_time_forms(cells: pa.Array) -> Encoded:
    """Any other column: its cells parsed by Arrow's ISO-8601 cast, a form at a time.

    First the form of the column's first cell (`_Form`: its separator, fraction digits and
    UTC zone, or epoch digits), for the whole column in one cast, kept where the instant
    printed back in that form is the cell itself. Then the cells left are split by pattern
    (`_by_form`): every other ISO form the row path reads, and epoch seconds or
    milliseconds. The row path's own converter is left with the cells that are odd. (Trying
    more forms one cast each cost more than the patterns: ~15 us a compute call.)"""
    empty = pc.equal(cells, _EMPTY)
    if empty.true_count == len(empty):
        return Encoded(["null"])
    texts = done = None
    form = _Form.of(cells[pc.index(empty, False).as_py()].as_py())
    parsed = None if form is None else form.parse(cells, empty)
    if parsed is None:
        parsed = _by_length(cells)
    if parsed is not None:
        texts, done = parsed
    rest = pc.invert(empty) if done is None else pc.invert(pc.or_(done, empty))
    if rest.true_count:
        instants, ok, keep_fraction = _by_form(cells.filter(rest))
        texts_of_rest = _iso_text(instants, keep_fraction)
        if done is None:
            texts = pc.replace_with_mask(pa.nulls(len(cells), pa.string()), rest, texts_of_rest)
            done = pc.replace_with_mask(pa.repeat(False, len(cells)), rest, ok)
        else:
            texts = pc.replace_with_mask(texts, rest, texts_of_rest)
            done = pc.replace_with_mask(done, rest, ok)
    return _typed(cells, empty, done, texts, '"', '+00:00"', rows.parse_datetime)


#: A run of cells of one length smaller than this is left to the patterns (`_by_form`): each
#: run costs a dozen compute calls, worth it for many cells, not for a few odd ones.
_SMALLEST_RUN = 16


def _by_length(cells: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """`_Form.parse` for a column mixing forms: its cells sorted by length (and a `Z` at the
    end: `.mmmZ` and ` +0000` are both 24 characters), each run of one length parsed in the
    form of its first cell, and put back in the column's order. A form's cells share a
    length, so this is a few casts of part of the column, where the patterns cost a pass
    over the whole column each; the cells a run does not vouch for go to the patterns.
    None when no run was parsed."""
    key = pc.add(
        pc.multiply(pc.binary_length(cells), 2), pc.cast(pc.ends_with(cells, "Z"), pa.int32())
    )
    order = pc.sort_indices(key).cast(pa.int32())
    ordered = cells.take(order)
    runs = pc.run_end_encode(key.take(order))
    texts: list[pa.Array] = []
    done: list[pa.Array] = []
    start = 0
    parsed_any = False
    for end, run_key in zip(runs.run_ends.to_pylist(), runs.values.to_pylist(), strict=True):
        run = ordered.slice(start, end - start)
        form = _Form.of(run[0].as_py()) if run_key and len(run) >= _SMALLEST_RUN else None
        parsed = None if form is None else form.parse(run, None)
        if parsed is None:
            texts.append(pa.nulls(len(run), pa.string()))
            done.append(pa.repeat(False, len(run)))
        else:
            texts.append(parsed[0])
            done.append(parsed[1])
            parsed_any = True
        start = end
    if not parsed_any:
        return None
    back = pc.inverse_permutation(order)
    return pa.concat_arrays(texts).take(back), pa.concat_arrays(done).take(back)


#: The zones `_Form` prints back: each is UTC, so the instant has the cell's digits.
_UTC_SUFFIXES = ("Z", "+00:00", "+0000")
_TIMESTAMP_US = pa.timestamp("us")
_TIMESTAMP_US_UTC = pa.timestamp("us", "UTC")
#: The instants the row path prints (Python's datetime): years 1 to 9999, in microseconds.
_FIRST_US = -62_135_596_800_000_000
_LAST_US = 253_402_300_799_999_999


@dataclasses.dataclass(frozen=True)
class _Form:
    """A form of timestamp cells whose instants print back as the cells: ISO text with
    `separator`, `digits` of fraction (None: as `isoformat()` prints, none or 6) and a UTC
    `suffix`; or, with `epoch`, an integer's digits as Python prints them."""

    separator: str = "T"
    digits: int | None = None
    suffix: str = ""
    epoch: bool = False

    @classmethod
    def of(cls, first: str) -> _Form | None:
        if first.isascii() and first.removeprefix("-").isdigit():
            return cls(epoch=True)
        suffix = next((zone for zone in _UTC_SUFFIXES if first.endswith(zone)), "")
        bare = first[: len(first) - len(suffix)]
        separator = bare[10:11]
        if separator not in ("T", " ") or len(bare) < 19:
            return None
        if len(bare) in (19, 26):
            return cls(separator, None, suffix)
        if bare[19:20] == "." and 21 <= len(bare) <= 25:
            return cls(separator, len(bare) - 20, suffix)
        return None

    def _placeholder(self) -> str:
        """A cell of this form, in place of the empty ones (their JSON is null anyway)."""
        if self.epoch:
            return "0"
        fraction = "." + "0" * self.digits if self.digits else ""
        return "1970-01-01" + self.separator + "00:00:00" + fraction + self.suffix

    def parse(self, cells: pa.Array, empty: pa.Array | None) -> tuple[pa.Array, pa.Array] | None:
        """Each cell's text as the row path prints it, and which cells are exactly this form
        (printed back, the same text); None when some cell does not cast like this form."""
        if empty is not None and empty.true_count:
            cells = pc.if_else(empty, self._placeholder(), cells)
        if self.epoch:
            return _same_epoch_form(cells)
        # Arrow's cast takes ~20x longer to fail on a cell with another zone than to succeed:
        # the cells' lengths and zone tell such a column first.
        sizes = {19, 26} if self.digits is None else {20 + self.digits}
        lengths = pc.binary_length(cells)
        shortest, longest = pc.min_max(lengths).values()
        if not {shortest.as_py() - len(self.suffix), longest.as_py() - len(self.suffix)} <= sizes:
            return None
        if self.suffix and not pc.all(pc.ends_with(cells, self.suffix)).as_py():
            return None
        try:
            parsed = pc.cast(cells, _TIMESTAMP_US_UTC if self.suffix else _TIMESTAMP_US)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None  # another form, a day not in the calendar, text
        instants = parsed.view(pa.int64())
        if self.digits is None:
            return self._as_isoformat_prints(cells, lengths, instants)
        # As many digits as the cells have, printed back; the row path keeps `.mmmZ`'s zeros.
        whole = _iso_text(instants, keep_fraction=True)
        printed = pc.utf8_slice_codeunits(whole, 0, 20 + self.digits)
        quirk = self.digits == 3 and self.suffix == "Z"
        texts = whole if quirk else _without_zero_fraction(whole)
        if self.separator != "T":
            printed = pc.utf8_replace_slice(printed, 10, 11, self.separator)
        if self.suffix:
            printed = pc.binary_join_element_wise(printed, self.suffix, _EMPTY)
        done = pc.and_(pc.equal(printed, cells), _in_range(instants))
        return texts, done

    def _as_isoformat_prints(
        self, cells: pa.Array, lengths: pa.Array, instants: pa.Array
    ) -> tuple[pa.Array, pa.Array]:
        """`parse` for the form `isoformat()` prints, without printing the instants: a cell of
        19 or 26 characters before its zone that Arrow's ISO-8601 cast reads is
        `YYYY-MM-DD?hh:mm:ss`, with `.` and 6 digits for 26 (Arrow reads no other text of those
        lengths: "hh" or "hh:mm" alone, a fraction only after the seconds, then one zone;
        `tests/unit/records/test_columnar_differential.py` holds it to that). So the text is the cell
        without its zone, with a `T`: `isoformat()`'s unless its fraction is all zeros."""
        bare = pc.utf8_slice_codeunits(cells, 0, -len(self.suffix)) if self.suffix else cells
        if self.separator != "T" or pc.any(pc.match_substring(bare, " ")).as_py():
            bare = pc.utf8_replace_slice(bare, 10, 11, "T")
        zone = len(self.suffix)
        isoformat = pc.and_(
            pc.or_(pc.equal(lengths, 19 + zone), pc.equal(lengths, 26 + zone)),
            pc.invert(pc.ends_with(cells, ".000000" + self.suffix)),
        )
        return bare, pc.and_(isoformat, _in_range(instants))


def _same_epoch_form(cells: pa.Array) -> tuple[pa.Array, pa.Array] | None:
    """`_Form.parse` for epoch seconds or milliseconds: the cells that are an integer's
    digits as Python prints it (no sign but "-", no leading zero)."""
    # A cast that fails costs ~30x one that succeeds (a column of mixed forms whose first
    # cell is epoch digits): cells longer than an int64, or not all digits, tell it first.
    if pc.max(pc.binary_length(cells)).as_py() > 20:
        return None
    if (
        not pc.all(pc.ascii_is_decimal(cells)).as_py()
        and not pc.any(pc.starts_with(cells, "-")).as_py()
    ):
        return None
    try:
        numbers = pc.cast(cells, pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None
    instants, in_range = _epoch_instants(numbers)
    done = pc.and_(pc.equal(pc.cast(numbers, pa.string()), cells), in_range)
    return _iso_text(instants), done


def _epoch_instants(numbers: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Epoch seconds, or milliseconds from 1e11 on (`typing._MILLIS_THRESHOLD`), in
    microseconds (0 where out of range); and which are in Python's years."""
    millis = pc.if_else(
        pc.greater_equal(pc.abs(numbers), _MILLIS_THRESHOLD), numbers, pc.multiply(numbers, 1000)
    )
    in_range = pc.and_(
        pc.greater_equal(millis, _FIRST_US // 1000), pc.less_equal(millis, _LAST_US // 1000)
    )
    return pc.multiply(pc.if_else(in_range, millis, 0), 1000), in_range


def _in_range(instants: pa.Array) -> pa.Array:
    return pc.and_(pc.greater_equal(instants, _FIRST_US), pc.less_equal(instants, _LAST_US))


def _iso_text(instants: pa.Array, keep_fraction: pa.Array | bool | None = None) -> pa.Array:
    """Microseconds since the epoch (UTC) as `datetime.isoformat()` prints them: no fraction
    when it is zero, except where `keep_fraction` (the row path's `.mmmZ` form keeps it)."""
    printed = pc.utf8_replace_slice(
        pc.cast(instants.view(_TIMESTAMP_US), pa.string()), 10, 11, "T"
    )  # 2026-11-20T19:31:46.789000
    if keep_fraction is True:
        return printed
    return _without_zero_fraction(printed, keep_fraction)


def _without_zero_fraction(printed: pa.Array, keep: pa.Array | None = None) -> pa.Array:
    whole = pc.ends_with(printed, ".000000")
    if keep is not None:
        whole = pc.and_(whole, pc.invert(keep))
    count = whole.true_count
    if not count:
        return printed
    seconds = pc.utf8_slice_codeunits(printed, 0, 19)
    return seconds if count == len(whole) else pc.if_else(whole, seconds, printed)


_ISO_DATE_TIME = (
    # Years from 1 (an offset may carry year 0 into year 1: Python refuses year 0 itself).
    r"^(000[1-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-9][0-9]{3})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
    r"[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
    # Python < 3.11 reads fractions of 3 or 6 digits only.
    + (r"(\.[0-9]{1,6})?" if sys.version_info >= (3, 11) else r"(\.[0-9]{3}|\.[0-9]{6})?")
)
#: Forms the row path reads as `datetime.fromisoformat` does, with a zone or without. A cell
#: of these forms has a zone where its last 6 characters hold a sign (the date's "-" are
#: further left): one pattern, not one for each.
_ISO = _ISO_DATE_TIME + r"(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])?$"
#: Whole epoch seconds, or milliseconds from 1e11 on (`typing._MILLIS_THRESHOLD`).
_EPOCH = r"^-?[0-9]{1,18}$"
_MILLIS_THRESHOLD = 100_000_000_000


def _by_form(cells: pa.Array) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Per cell, its instant in microseconds, whether the row path reads it so, and whether
    it is the `.mmmZ` form (whose fraction the row path keeps when it is zero)."""
    iso = pc.match_substring_regex(cells, _ISO)
    zone = pc.utf8_slice_codeunits(cells, -6)
    zoned = pc.and_(
        iso,
        pc.or_(
            pc.ends_with(cells, "Z"),
            pc.or_(pc.match_substring(zone, "+"), pc.match_substring(zone, "-")),
        ),
    )
    no_zone = pc.and_(iso, pc.invert(zoned))
    if pc.any(pc.starts_with(cells, "-")).as_py():
        epoch = pc.match_substring_regex(cells, _EPOCH)
    else:  # the pattern's work in two plain passes
        epoch = pc.and_(pc.ascii_is_decimal(cells), pc.less_equal(pc.binary_length(cells), 18))
    if iso.true_count:
        try:
            iso_instants = _cast_iso(cells, zoned, no_zone)
        except pa.ArrowInvalid:
            # A day not in the calendar (Feb 30, year 0): those dates go to the row path,
            # found once per distinct date (a file's timestamps crowd into a few days).
            dates = pc.utf8_slice_codeunits(cells.filter(iso), 0, 10)
            bad = [day for day in pc.unique(dates).to_pylist() if not _is_date(day)]
            real = pc.invert(pc.is_in(pc.utf8_slice_codeunits(cells, 0, 10), pa.array(bad)))
            zoned, no_zone = pc.and_(zoned, real), pc.and_(no_zone, real)
            try:
                iso_instants = _cast_iso(cells, zoned, no_zone)
            except pa.ArrowInvalid:  # something else Arrow refuses: the row path reads them all
                zoned = no_zone = pa.repeat(False, len(cells))
                iso_instants = _cast_iso(cells, zoned, no_zone)
            iso = pc.or_(zoned, no_zone)
        iso = pc.and_(iso, _in_range(iso_instants))
    else:
        iso_instants = pa.repeat(0, len(cells)).cast(pa.int64())
    if epoch.true_count:
        epoch_instants, in_range = _epoch_instants(
            pc.cast(pc.if_else(epoch, cells, "0"), pa.int64())
        )
        epoch = pc.and_(epoch, in_range)
        instants = pc.if_else(epoch, epoch_instants, iso_instants)
    else:
        instants = iso_instants
    keep_fraction = pc.and_(
        zoned, pc.and_(pc.equal(pc.binary_length(cells), 24), pc.ends_with(cells, "Z"))
    )
    return instants, pc.or_(iso, epoch), keep_fraction


def _cast_iso(cells: pa.Array, zoned: pa.Array, no_zone: pa.Array) -> pa.Array:
    """Microseconds of the ISO cells (a cell without a zone is UTC); 0 for the others."""
    texts = pc.if_else(
        zoned,
        cells,
        pc.if_else(no_zone, pc.binary_join_element_wise(cells, "Z", ""), "1970-01-01T00:00:00Z"),
    )
    return pc.cast(texts, _TIMESTAMP_US_UTC).view(pa.int64())


def _is_date(text: str) -> bool:
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _typed(
    cells: pa.Array,
    empty: pa.Array,
    done: pa.Array,
    texts: pa.Array,
    before: str,
    after: str,
    convert: rows.Converter,
) -> Encoded:
    """`before` + text + `after` where `done`, null where the cell is empty, `convert` for
    every other cell. Where every cell with text is done, no array is joined here."""
    rest = pc.invert(pc.or_(done, empty))
    if not rest.true_count:
        if empty.true_count:
            texts = pc.if_else(empty, _EMPTY, texts)
        return Encoded(_around(cells, before, texts, after))
    bulk = pc.binary_join_element_wise(before, texts, after, _EMPTY)
    return _by_pattern(cells, empty, done, bulk, convert)


def _by_pattern(
    cells: pa.Array, empty: pa.Array, done: pa.Array, bulk: pa.Array, convert: rows.Converter
) -> Encoded:
    """`bulk` where `done`, null where the cell is empty, `convert` for every other cell."""
    if empty.true_count == len(empty):
        return Encoded(["null"])
    json = pc.if_else(empty, _NULL, pc.if_else(done, bulk, _NO_TEXT))
    rest = pc.invert(pc.or_(done, empty))
    if not rest.true_count:
        return Encoded([json])
    return _convert_each(cells, json, rest, convert)


#: The JSON text of cells typed one at a time by the row path's converter (None: the cell
#: does not parse), by converter and cell: a file's few distinct tags or query parameters
#: come again in every batch (`ast.literal_eval` of the same tags was ~15% of a batch's
#: typing). Bounded: emptied when full.
_TYPED_CELLS: dict[tuple[rows.Converter, str], str | None] = {}
_TYPED_CELLS_MAX = 4096


def _typed_cell(convert: rows.Converter, cell: str) -> str | None:
    key = (convert, cell)
    if key in _TYPED_CELLS:
        return _TYPED_CELLS[key]
    try:
        text: str | None = msgspec.json.encode(convert(cell)).decode()
    except rows.CELL_ERRORS:
        text = None
    if len(_TYPED_CELLS) >= _TYPED_CELLS_MAX:
        _TYPED_CELLS.clear()
    _TYPED_CELLS[key] = text
    return text


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
        text = _typed_cell(convert, cell)
        texts.append("null" if text is None else text)
        if text is None:
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
    empty = pc.equal(cells, _EMPTY)
    done = pc.match_substring_regex(cells, _INTEGER)
    return _by_pattern(cells, empty, done, cells, rows.parse_integer)


def raw_millis(cells: pa.Array) -> Encoded:
    """An epoch-ms cell as its integer, null when it is not one (`ontology._raw_millis`):
    the date-time field beside it keeps what did not parse."""
    return Encoded(integer(cells).pieces)


def number(cells: pa.Array) -> Encoded:
    """Short plain decimals print back as themselves (float repr); other decimals of at most
    15 digits are printed as repr prints their float (`1.50` is 1.5, `7` is 7.0); anything
    else goes through float() (msgspec writes 1e-05 with an exponent)."""
    empty = pc.equal(cells, _EMPTY)
    tiny = pc.match_substring_regex(cells, _TINY_NUMBER)
    done = pc.and_(pc.match_substring_regex(cells, _NUMBER), pc.invert(tiny))
    bulk = cells
    if pc.invert(pc.or_(done, empty)).true_count:
        decimal = pc.and_(
            pc.and_(pc.match_substring_regex(cells, _DECIMAL), pc.invert(tiny)),
            pc.less_equal(pc.binary_length(cells), _DECIMAL_DIGITS),
        )
        if decimal.true_count:
            bulk = pc.if_else(done, cells, _as_float_repr(cells))
            done = pc.or_(done, decimal)
    return _by_pattern(cells, empty, done, bulk, rows.parse_number)


#: Decimals whose float repr is their own digits (15 significant digits at most: the text of
#: at most 15 characters) without a trailing zero in the fraction, `.0` for a whole number.
_DECIMAL = r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?$"
_DECIMAL_DIGITS = 15


def _as_float_repr(cells: pa.Array) -> pa.Array:
    """`_DECIMAL` cells as repr prints their float: `1.50` -> 1.5, `2.000` -> 2.0, `7` -> 7.0."""
    trimmed = pc.replace_substring_regex(cells, r"(\.[0-9]*?)0+$", r"\1")
    return pc.if_else(
        pc.ends_with(trimmed, "."),
        pc.binary_join_element_wise(trimmed, "0", _EMPTY),
        pc.if_else(
            pc.match_substring(trimmed, "."),
            trimmed,
            pc.binary_join_element_wise(trimmed, ".0", _EMPTY),
        ),
    )


def boolean(cells: pa.Array) -> Encoded:
    empty = pc.equal(cells, _EMPTY)
    true = pc.is_in(cells, value_set=_TRUE)
    false = pc.is_in(cells, value_set=_FALSE)
    bulk = pc.if_else(true, _text_scalar("true"), _text_scalar("false"))
    return _by_pattern(cells, empty, pc.or_(true, false), bulk, rows.parse_boolean)


def json_of(convert: rows.JsonConverter) -> Encoder:
    """The row path's JSON objects or arrays (`convert.expected`) in cells, written as they
    are once valid and, where the schema says what they hold (`convert.shape`), once the
    whole column's values match it; arrays may be Python list literals of strings."""
    opening = "{" if convert.expected is dict else "["
    text_lists = convert.expected is list
    inside = None if convert.shape is None else msgspec.json.Decoder(list[convert.shape])

    def encode(cells: pa.Array) -> Encoded:
        few = _by_distinct_cell(cells, convert)
        if few is not None:
            return few
        empty = pc.equal(cells, _EMPTY)
        raw, slow = cells, None
        if text_lists:
            cells, slow = _text_lists_as_json(cells)
        bulk = pc.invert(empty) if slow is None else pc.invert(pc.or_(empty, slow))
        odd = _odd_json_cells(cells.filter(bulk), opening, inside)
        if odd:
            # Cells that are not exactly one JSON value of the column's kind: the row path's.
            positions = pc.indices_nonzero(bulk).take(pa.array(odd, pa.int64())).to_pylist()
            marks = [False] * len(cells)
            for position in positions:
                marks[position] = True
            odd_mask = pa.array(marks, pa.bool_())
            slow = odd_mask if slow is None else pc.or_(slow, odd_mask)
        if slow is None:
            return Encoded(_around(cells, "", cells, ""))
        json = pc.if_else(empty, _NULL, pc.if_else(slow, _NO_TEXT, cells))
        return _convert_each(raw, json, slow, convert)

    return encode


#: A column is typed once per distinct cell when its first `_SAMPLE` cells hold at most
#: `_FEW_IN_SAMPLE` distinct ones, each twice on average unless there are at most
#: `_ALWAYS_FEW`, and the batch at most `_FEW` (tags, a query's few params).
_SAMPLE, _FEW_IN_SAMPLE, _ALWAYS_FEW, _FEW = 256, 32, 8, 256


def _repeating(cells: pa.Array) -> bool:
    """Whether a column's cells come again and again (`_FEW_IN_SAMPLE`). Counting the empty
    cell as one of the few was not enough: a column empty in most rows held ~30 distinct
    links' data in its first 256 cells, and ~125 cells a batch were typed one by one in
    Python, each new (the cache of typed cells was emptied every few batches)."""
    sample = cells.slice(0, _SAMPLE)
    distinct = pc.count_distinct(sample).as_py()  # the empty cell counted
    if distinct > _FEW_IN_SAMPLE + 1:
        return False
    if distinct <= _ALWAYS_FEW:
        return True
    counted = pc.value_counts(sample)
    empty = pc.index(counted.field("values"), _EMPTY).as_py()
    kinds, present = len(counted), len(sample)
    if empty >= 0:
        kinds -= 1
        present -= counted.field("counts")[empty].as_py()
    return kinds <= _ALWAYS_FEW or 2 * kinds <= present


def _by_distinct_cell(cells: pa.Array, convert: rows.Converter) -> Encoded | None:
    """The row path's converter once per distinct cell, for a column of few distinct cells
    (a few microseconds each, where checking the column in bulk costs more); None for a
    column of many."""
    if not _repeating(cells):
        return None
    distinct = pc.dictionary_encode(cells)
    if len(distinct.dictionary) > _FEW:
        return None
    texts: list[str] = []
    failed: list[int] = []
    for number, cell in enumerate(distinct.dictionary.to_pylist()):
        if cell == "":
            texts.append("null")  # an empty cell is null
            continue
        text = _typed_cell(convert, cell)
        texts.append("null" if text is None else text)
        if text is None:
            failed.append(number)
    unparsed: dict[int, str] = {}
    if failed:
        bad = pc.is_in(distinct.indices, value_set=pa.array(failed, distinct.indices.type))
        for row in pc.indices_nonzero(bad).to_pylist():
            unparsed[row] = distinct.dictionary[distinct.indices[row].as_py()].as_py()
    return Encoded([pa.array(texts, pa.string()).take(distinct.indices)], unparsed)


#: Below this many cells, a run holding an odd cell is typed cell by cell, not halved again.
_SMALLEST_HALF = 32


def _odd_json_cells(
    present: pa.Array, opening: str, inside: msgspec.json.Decoder | None
) -> list[int]:
    """Positions of the cells that are not, or may not be, one JSON value each: the cells
    checked in bulk, and where some is odd, each half again, so that a few odd cells leave
    the others in bulk."""
    if _all_json_values(present, opening, inside):
        return []
    if len(present) <= _SMALLEST_HALF:
        return list(range(len(present)))
    half = len(present) // 2
    first = _odd_json_cells(present.slice(0, half), opening, inside)
    second = _odd_json_cells(present.slice(half), opening, inside)
    return first + [half + position for position in second]


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
    document = b"[" + text_bytes(pc.binary_join_element_wise(present, ",", _EMPTY))[:-1] + b"]"
    if b"\n" in document or b"\r" in document:
        return False  # whitespace between tokens, which would cut the record's line
    whole = pa.array([document], pa.binary())
    if (
        pc.any(pc.match_substring_regex(whole, _MAYBE_EXPONENT)).as_py()
        and pc.any(pc.match_substring_regex(whole, _EXPONENT)).as_py()
    ):
        return False
    try:
        values = msgspec.json.decode(document, type=list[msgspec.Raw])
        if inside is not None:
            inside.decode(document)
    except msgspec.DecodeError:  # a ValidationError too: some value's inside is not the schema's
        return False
    return len(values) == len(present) and msgspec.json.encode(values) == document
