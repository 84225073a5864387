"""Per-column converters built once from a stream's JSON schema.

The SDK's type conformance walks every value of every record recursively; on
wide CSV exports that is most of the tap's time. Instead each column gets one
converter, chosen from its schema when a file's header is read, and the
streams that use these set `TYPE_CONFORMANCE_LEVEL = NONE`.

A cell that does not parse is never dropped and never crashes the run: its
field becomes null and its raw text is kept in the record's `unparsed_cells`
object under the column's name. Columns the schema does not know are kept, as
text, in `extra_columns`.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import logging
import math
import re
import sys
import threading
import typing as t

import msgspec
from singer_sdk import typing as th

from tap_branch.records.json_shapes import shape_of

Converter = t.Callable[[t.Any], t.Any]

UNPARSED = "unparsed_cells"
EXTRA = "extra_columns"

#: Declared by every typed stream: where unparseable cells and unknown columns go. A record
#: has these keys only when there is something in them (never null): a target then stores SQL
#: NULL for the others, and "find the bad cells" is `WHERE unparsed_cells IS NOT NULL`.
CATCH_ALL_PROPERTIES = [
    th.Property(
        UNPARSED,
        th.ObjectType(additional_properties=th.StringType()),
        nullable=False,
        description="Raw text of cells that did not parse as their column's type, by column name "
        "(the typed field itself is null for those cells). Present only in records that have some.",
    ),
    th.Property(
        EXTRA,
        th.ObjectType(additional_properties=th.StringType()),
        nullable=False,
        description="Columns the file had that this stream's schema does not know, kept as text. "
        "Present only in records that have some.",
    ),
]

_UTC = dt.timezone.utc
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=_UTC)
# Epoch values at or above this are milliseconds (1e11 s is the year 5138).
_MILLIS_THRESHOLD = 100_000_000_000

_json_decode = msgspec.json.decode


_NAIVE_EPOCH = dt.datetime(1970, 1, 1)
_from_iso = dt.datetime.fromisoformat
_ZERO = dt.timedelta(0)
# Python < 3.11's fromisoformat does not read a trailing "Z".
_ISO_NEEDS_Z_FIX = sys.version_info < (3, 11)


def parse_datetime(value: t.Any) -> str:
    """ISO-8601 UTC text for an ISO string or an epoch in seconds or milliseconds.

    The hot path of every export (several timestamp columns a row), hence the
    type checks by class and the digit test before any exception can happen.
    """
    if value.__class__ is str:
        if len(value) == 24 and value[23] == "Z" and value[19] == "." and value[4] == "-":
            # Branch's usual form, 2024-05-01T12:34:56.789Z: validate, then reformat by hand.
            _from_iso(value[:23])
            if value[10] == "T":
                return value[:23] + "000+00:00"
            return value[:10] + "T" + value[11:23] + "000+00:00"
        if len(value) == 13 and value.isdigit() and value.isascii() and value[0] != "0":
            return _epoch_millis_digits_text(value)  # Branch's other usual form
        if (
            len(value) == 19
            and value[10] == "T"
            and value[13] == ":"
            and value[16] == ":"
            and value[17:].isdigit()
        ):
            # The legacy daily export's zone-less form, 2018-07-11T09:43:01 (UTC).
            _from_iso(value)
            return value + "+00:00"
        if value.isdigit():
            number: float = int(value)
        elif value[4:5] == "-":
            text = value.strip()
            if _ISO_NEEDS_Z_FIX and text[-1:] in ("Z", "z"):
                text = text[:-1] + "+00:00"
            try:
                parsed = _from_iso(text)
            except ValueError:
                parsed = _from_iso(_colon_offset(text))
            offset = parsed.utcoffset()
            if offset is None:
                return parsed.isoformat() + "+00:00"
            if offset == _ZERO:
                return parsed.isoformat()
            return parsed.astimezone(_UTC).isoformat()
        elif value[:1] == "-" and value[1:].isdigit():
            number = int(value)  # before 1970: rare, but exact like the positive epochs
        elif value[:1].isspace() and value.strip():
            return parse_datetime(value.strip())  # padded text; rare, so off the hot path
        else:
            number = float(value)  # negative or fractional epochs; anything else raises ValueError
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        raise ValueError(f"not a timestamp: {value!r}")
    if number.__class__ is int:
        if abs(number) >= _MILLIS_THRESHOLD:
            return _epoch_millis_text(number)
        return _epoch_millis_text(number * 1000)
    if not math.isfinite(number):
        raise ValueError(f"not a timestamp: {value!r}")
    if abs(number) >= _MILLIS_THRESHOLD:
        number /= 1000.0
    # Naive arithmetic and a literal offset: formatting an aware datetime costs twice as much.
    return (_NAIVE_EPOCH + dt.timedelta(seconds=number)).isoformat() + "+00:00"


_BASIC_OFFSET = re.compile(r"([+-]\d\d)(\d\d)$")


def _colon_offset(text: str) -> str:
    """`2018-07-11 00:47:31+0000` (Branch's `*_timestamp_iso`) as Python < 3.11 reads it."""
    fixed = _BASIC_OFFSET.sub(r"\1:\2", text)
    if fixed == text:
        raise ValueError(f"not an ISO-8601 timestamp: {text!r}")
    return fixed


#: ISO text of whole epoch seconds already formatted: an export's timestamps
#: crowd into a few days, so most rows reuse a second another row formatted.
_SECOND_TEXT: dict[int, str] = {}
_SECOND_TEXT_MAX = 100_000  # ~10 MB at most; a day has 86,400 seconds


def _epoch_millis_text(millis_since_epoch: int) -> str:
    """The same text as `datetime.isoformat()` (no fraction when it is zero), plus "+00:00"."""
    seconds, millis = divmod(millis_since_epoch, 1000)
    text = _SECOND_TEXT.get(seconds)
    if text is None:
        if len(_SECOND_TEXT) >= _SECOND_TEXT_MAX:
            _SECOND_TEXT.clear()
        text = _SECOND_TEXT[seconds] = (_NAIVE_EPOCH + dt.timedelta(seconds=seconds)).isoformat()
    if millis:
        return f"{text}.{millis:03d}000+00:00"
    return text + "+00:00"


#: The same as `_SECOND_TEXT`, keyed by the ten digits of the seconds.
_SECOND_TEXT_BY_DIGITS: dict[str, str] = {}


def _epoch_millis_digits_text(digits: str) -> str:
    """`_epoch_millis_text` of 13 ASCII digits (no leading zero): the seconds are the first
    ten digits and the milliseconds the last three, so no arithmetic and no formatting."""
    text = _SECOND_TEXT_BY_DIGITS.get(digits[:10])
    if text is None:
        if len(_SECOND_TEXT_BY_DIGITS) >= _SECOND_TEXT_MAX:
            _SECOND_TEXT_BY_DIGITS.clear()
        text = (_NAIVE_EPOCH + dt.timedelta(seconds=int(digits[:10]))).isoformat()
        _SECOND_TEXT_BY_DIGITS[digits[:10]] = text
    millis = digits[10:]
    if millis == "000":
        return text + "+00:00"
    return text + "." + millis + "000+00:00"


def parse_integer(value: t.Any) -> int:
    if isinstance(value, bool):
        raise ValueError("boolean is not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, float):  # a JSON export's number: 2.0 is 2, 2.5 is not an integer
        if value.is_integer():
            return int(value)
        raise ValueError(f"not an integer: {value!r}")
    try:
        return int(value)
    except ValueError:
        number = float(value)
        if not number.is_integer():
            raise
        return int(number)


_DIGITS = re.compile(r"\s*[0-9]+\s*")


def parse_count(value: t.Any) -> int | None:
    """A count Branch sends (an export job's `lines_exported`): a non-negative integer, or
    text of ASCII digits; None when Branch sends none (null, or no such key). ValueError for
    anything else: a boolean, a negative number, any float (43.0 too), other text ("", "+5",
    "1_000", "4.0").

    Stricter than `parse_integer`: a count is checked against the rows read, and one that
    is not what Branch documents (an integer) says the answer is not what it seems.
    """
    if value is None:
        return None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise ValueError(f"not a count: {value!r}")


def parse_number(value: t.Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError("boolean is not a number")
    if isinstance(value, (int, float)):
        return value
    number = float(value)
    if not math.isfinite(number):
        # JSON has no NaN or infinity (msgspec would write null): kept raw, not lost.
        raise ValueError(f"not a finite number: {value!r}")
    return number


#: The text of an integer ("407", "-3", " 12 " once stripped).
INTEGER_TEXT = re.compile(r"[+-]?\d+")


def parse_number_keeping_integers(value: t.Any) -> int | float:
    """`parse_number`, except that the text of an integer gives an int (exact, however long):
    the value JSON would give for the same digits, so a number read from text (a CSV cell, an
    environment variable) equals the one read from JSON."""
    if isinstance(value, str) and INTEGER_TEXT.fullmatch(value.strip()):
        return int(value)
    return parse_number(value)


TRUE_WORDS = frozenset({"true", "t", "1", "yes", "y"})
FALSE_WORDS = frozenset({"false", "f", "0", "no", "n"})


def parse_boolean(value: t.Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise ValueError(f"not a boolean: {value!r}")


#: Longest Python list literal read (a tags cell is a few dozen characters).
_MAX_LITERAL = 100_000
#: One `ast.literal_eval` at a time: the columnar path's two typing threads both read odd
#: cells with these converters, and CPython (3.11 at least) keeps one AST recursion counter
#: for all threads, so two parses at once failed now and then with "SystemError: AST
#: constructor recursion depth mismatch" (python/cpython#106905), ending the run. Each
#: distinct cell is parsed once (`encode._typed_cell`), so the lock is rarely waited on.
_LITERAL_EVAL = threading.Lock()


def parse_python_text_list(value: str) -> list[str]:
    """A Python list literal of strings, as the legacy daily export writes tags: `['iOS']`.

    `ast.literal_eval` evaluates literals only (no names, calls or attributes), and the
    result must be a list of strings, else ValueError.
    """
    if len(value) > _MAX_LITERAL or not value.lstrip().startswith("["):
        raise ValueError("not a Python list literal")
    try:
        with _LITERAL_EVAL:
            parsed = ast.literal_eval(value.strip())
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        raise ValueError("not a Python list literal") from None
    if not isinstance(parsed, list) or not all(isinstance(item, str) for item in parsed):
        raise ValueError("not a list of strings")
    return parsed


class JsonConverter:
    """Cells holding a JSON `expected` (dict or list) whose inside matches `shape`
    (`tap_branch.records.json_shapes`: what the schema says of it, None for nothing more). The
    columnar path reads both to check whole columns the same way (`encode.json_of`)."""

    def __init__(self, expected: type, shape: t.Any | None) -> None:
        self.expected = expected
        self.shape = shape

    def __call__(self, value: t.Any) -> t.Any:
        expected = self.expected
        if isinstance(value, expected):
            decoded = value
        else:
            try:
                decoded = _json_decode(value)
            except msgspec.DecodeError:
                if expected is list and isinstance(value, str):
                    decoded = parse_python_text_list(value)
                else:
                    raise
            if not isinstance(decoded, expected):
                raise ValueError(
                    f"JSON cell is a {type(decoded).__name__}, not a {expected.__name__}"
                )
        if self.shape is not None:
            msgspec.convert(decoded, self.shape)  # raises msgspec.ValidationError
        return decoded


def as_text(value: t.Any) -> str:
    return (
        value
        if isinstance(value, str)
        else msgspec.json.encode(value).decode()
        if isinstance(value, (dict, list, bool))  # JSON's text: true, not Python's True
        else str(value)
    )


def types_of(prop: dict) -> list[str]:
    """The JSON types a schema property allows, its `anyOf` options' included."""
    if "anyOf" in prop:
        types: list[str] = []
        for option in prop["anyOf"]:
            types.extend(types_of(option))
        return types
    declared = prop.get("type", [])
    return [declared] if isinstance(declared, str) else list(declared)


def converter_for(prop: dict) -> Converter | None:
    """The converter for one schema property; None where a value passes as it is."""
    types = [ty for ty in types_of(prop) if ty != "null"]
    if "string" in types and prop.get("format") == "date-time":
        return parse_datetime
    if "object" in types:
        return JsonConverter(dict, shape_of(prop))
    if "array" in types:
        return JsonConverter(list, shape_of(prop))
    if "integer" in types:
        return parse_integer
    if "number" in types:
        return parse_number
    if "boolean" in types:
        return parse_boolean
    if "string" in types:
        return as_text
    return None


#: What a converter raises for a cell that does not parse as its column's type.
CELL_ERRORS = (ValueError, TypeError, OverflowError, msgspec.DecodeError)


@dataclasses.dataclass(frozen=True)
class FileColumns:
    """What a file's header means under a stream's schema, decided once per file and read by
    both typers (`RowTyper`, `tap_branch.records.columnar.typer.ColumnarTyper`).

    `template`: the documented columns missing from the file (null) and the `constants`
    every record carries; `plain` (text) and `typed` (with their converter) columns, and
    `extra` ones (unknown to the schema, or named like a constant: kept as text), each with
    its position in the header. A record's keys follow that order: template, plain, typed,
    then the catch-all fields."""

    header: tuple[str, ...]
    template: dict[str, t.Any]
    plain: tuple[tuple[int, str], ...]
    typed: tuple[tuple[int, str, Converter], ...]
    extra: tuple[tuple[int, str], ...]

    @classmethod
    def of(
        cls,
        schema: dict,
        header: t.Sequence[str],
        constants: t.Mapping[str, t.Any] | None = None,
    ) -> FileColumns:
        properties = schema["properties"]
        constants = constants or {}
        typed: list[tuple[int, str, Converter]] = []
        plain: list[tuple[int, str]] = []
        extra: list[tuple[int, str]] = []
        for index, column in enumerate(header):
            # A file column named like a constant (`app_id`, `export_date`) never replaces it:
            # the constants are the record's key and bookmark. Its cells are kept as text.
            if column in (UNPARSED, EXTRA) or column not in properties or column in constants:
                extra.append((index, column))
                continue
            convert = converter_for(properties[column])
            if convert is None or convert is as_text:
                plain.append((index, column))
            else:
                typed.append((index, column, convert))
        present = set(header)
        # Documented columns missing from this file become null, not absent.
        template: dict[str, t.Any] = {
            name: None
            for name in properties
            if name not in present and name not in (UNPARSED, EXTRA)
        }
        template.update(constants)
        return cls(tuple(header), template, tuple(plain), tuple(typed), tuple(extra))


class Warnings:
    """The problems of a stream's files, each logged once a run: `warned` is shared by the
    typers of the stream's files."""

    def __init__(self, logger: logging.Logger | None = None, warned: set | None = None) -> None:
        self.logger = logger or logging.getLogger(__name__)
        self.warned: set = warned if warned is not None else set()

    def extra_columns(self, source: str, columns: t.Iterable[str]) -> None:
        """The file `source` has `columns` the schema does not know (kept in `extra_columns`)."""
        unseen = [column for column in columns if ("extra", column) not in self.warned]
        if unseen:
            self.warned.update(("extra", column) for column in unseen)
            self.logger.warning(
                "%s has columns this stream's schema does not know; they are kept as text in '%s': %s",
                source,
                EXTRA,
                ", ".join(unseen),
            )

    def cell_once(self, source: str, column: str, cell: str) -> None:
        """A cell of `column` that does not parse as its type (kept in `unparsed_cells`)."""
        if column in self.warned:
            return
        self.warned.add(column)
        sample = cell if len(cell) <= 60 else cell[:57] + "..."
        self.logger.warning(
            "%s: column '%s' has a value that does not parse as its type (%r); "
            "kept as text in '%s' (further ones in this column are not logged).",
            source,
            column,
            sample,
            UNPARSED,
        )


class RowTyper:
    """Turns the rows of one file (lists of cells, in `header` order) into typed records.

    Built once per file: the header decides which converter each position gets
    (`FileColumns`). `constants` are fields every record of the file carries (`app_id`, ...).
    """

    def __init__(
        self,
        schema: dict,
        header: t.Sequence[str],
        *,
        source: str,
        constants: t.Mapping[str, t.Any] | None = None,
        logger: logging.Logger | None = None,
        warned: set | None = None,
    ) -> None:
        """`warned`: shared across the files of a stream, so each problem is logged once a run."""
        self.source = source
        self.logger = logger or logging.getLogger(__name__)
        self.warnings = Warnings(self.logger, warned)
        self.columns = FileColumns.of(schema, header, constants)
        self.header = list(header)
        self._typed = self.columns.typed
        self._plain = self.columns.plain
        self._extra = self.columns.extra
        self._template = self.columns.template
        self.warnings.extra_columns(source, [column for _, column in self._extra])
        self._width = len(self.header)

    def __call__(self, cells: t.Sequence[str]) -> dict[str, t.Any]:
        """The typed record of one row. Keys, in this order: missing documented columns (null)
        and constants, then plain and typed columns in header order, then the catch-all
        fields when they hold something."""
        if len(cells) != self._width:  # `downloads.csv_rows` refuses such a row, naming its line
            raise ValueError(
                f"{self.source}: a row of {len(cells)} cells, its header {self._width}"
            )
        record = self._template.copy()
        for index, column in self._plain:
            record[column] = cells[index] or None
        unparsed = None
        for index, column, convert in self._typed:
            cell = cells[index]
            if not cell:
                record[column] = None  # an empty cell is null
                continue
            try:
                record[column] = convert(cell)
            except CELL_ERRORS:
                record[column] = None
                unparsed = self._note_unparsed(unparsed, column, cell)
        if unparsed is not None:
            record[UNPARSED] = unparsed
        if self._extra:
            extra = self._extra_cells(cells)
            if extra is not None:
                record[EXTRA] = extra
        return record

    def _extra_cells(self, cells: t.Sequence[str]) -> dict[str, str] | None:
        return {column: cells[index] for index, column in self._extra if cells[index] != ""} or None

    def _note_unparsed(
        self, unparsed: dict[str, str] | None, column: str, cell: str
    ) -> dict[str, str]:
        """`unparsed` with the raw `cell` added (a new dict for a row's first bad cell)."""
        if unparsed is None:
            unparsed = {}
        unparsed[column] = cell
        self.warnings.cell_once(self.source, column, cell)
        return unparsed


class DictTyper:
    """The same typing for records that arrive as JSON objects (newline-delimited exports)."""

    def __init__(
        self,
        schema: dict,
        *,
        source: str,
        constants: t.Mapping[str, t.Any] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        properties = schema["properties"]
        self.source = source
        self.logger = logger or logging.getLogger(__name__)
        constants = constants or {}
        self._template = {
            name: None for name in properties if name not in (UNPARSED, EXTRA)
        } | dict(constants)
        # A field named like a constant is kept as text in `extra_columns`, never typed over it.
        self._converters = {
            name: converter_for(prop)
            for name, prop in properties.items()
            if name not in (UNPARSED, EXTRA) and name not in constants
        }
        self._warned: set[str] = set()

    def __call__(self, obj: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
        record = self._template.copy()
        unparsed = extra = None
        converters = self._converters
        for column, value in obj.items():
            if column not in converters:
                if value is not None:
                    if extra is None:
                        extra = {}
                    extra[column] = as_text(value)
                continue
            if value is None or value == "":
                record[column] = None
                continue
            convert = converters[column]
            if convert is None:
                record[column] = value
                continue
            try:
                record[column] = convert(value)
            except CELL_ERRORS:
                record[column] = None
                if unparsed is None:
                    unparsed = {}
                unparsed[column] = as_text(value)
                if column not in self._warned:
                    self._warned.add(column)
                    self.logger.warning(
                        "%s: field '%s' has a value that does not parse as its type; kept as text in '%s'.",
                        self.source,
                        column,
                        UNPARSED,
                    )
        if unparsed is not None:
            record[UNPARSED] = unparsed
        if extra is not None:
            record[EXTRA] = extra
        return record
