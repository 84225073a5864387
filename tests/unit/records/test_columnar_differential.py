"""The columnar path against the row path on generated cells, one column of each kind.

`test_columnar.py` checks chosen cells; here a seeded generator mixes, batch by batch,
columns all in one usual form (the bulk encoders), usual forms with a few odd cells (the
mixed and cell-by-cell paths), odd cells only, and empty columns. Every odd form is one a
CSV export could hold: other timestamp forms and zones, signs, exponents, padding, Python
list literals, JSON that is not one value, text with quotes, escapes and control
characters. Both paths must give the same records; every line the columnar path writes
must be strict JSON, one line per record, valid against the schema.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import json
import logging
import random
import re
import string
import typing as t

import jsonschema
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tap_branch.files.checks import UnexpectedContent
from tap_branch.files.csv_batches import Pace
from tap_branch.files.downloads import csv_rows
from tap_branch.files.pipeline import FileSource, csv_items
from tap_branch.records.items import JSON_LINES
from tap_branch.records.schemas.ontology import RawMillis
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, RowTyper, Warnings

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["string"]},
        "name": {"type": ["string", "null"]},
        # A second text column: a batch's text columns are typed as one column, and only those
        # holding a character to escape are escaped.
        "label": {"type": ["string", "null"]},
        "timestamp": {"type": ["string", "null"], "format": "date-time"},
        "timestamp_ms": {"type": ["integer", "null"]},  # Daily Exports v3's raw number beside it
        # A second date-time column: a batch's date-time columns are typed as one column.
        "created": {"type": ["string", "null"], "format": "date-time"},
        "count": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "data": {"type": ["object", "null"]},
        "tags": {"type": ["array", "null"], "items": {"type": "string"}},
        # Flattened keys of Branch's lists of objects (`persona_identifiers[].guaranteed`, ...).
        "flags": {"type": ["array", "null"], "items": {"type": "boolean"}},
        "scores": {"type": ["array", "null"], "items": {"type": "number"}},
        **{prop.name: prop.to_dict()[prop.name] for prop in CATCH_ALL_PROPERTIES},
    },
}
CONSTANTS = {"app_id": "app-1"}
LOG = logging.getLogger(__name__)
VALIDATOR = jsonschema.Draft7Validator(
    {**SCHEMA, "properties": {**SCHEMA["properties"], "app_id": {"type": "string"}}},
    format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
)


def _instant(rng: random.Random) -> dt.datetime:
    start = dt.datetime(1971, 1, 1)
    return start + dt.timedelta(
        seconds=rng.randrange(60 * 365 * 86400), milliseconds=rng.randrange(1000)
    )


def _usual_timestamp(rng: random.Random, form: int) -> str:
    when = _instant(rng)
    millis = when.microsecond // 1000
    if form == 0:
        return when.strftime("%Y-%m-%dT%H:%M:%S")
    if form == 1:
        return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
    utc = when.replace(tzinfo=dt.timezone.utc)
    return str(int(utc.timestamp()) * 1000 + millis)


def _odd_timestamp(rng: random.Random) -> str:
    when = _instant(rng)
    base = when.strftime("%Y-%m-%dT%H:%M:%S")
    epoch = int(when.replace(tzinfo=dt.timezone.utc).timestamp())
    return rng.choice(
        [
            base + "+0000",
            base + "+05:30",
            base + "-08:00",
            base + "Z",
            base.replace("T", " ") + ".123Z",
            base + f".{when.microsecond:06d}Z",
            base + ".1Z",
            base + ".123z",
            base + ".000Z",
            str(epoch),
            str(epoch) + ".5",
            str(epoch * 1000)[:-3] + "000",
            "0" + str(epoch * 1000),
            "-" + str(epoch),
            " " + base,
            base + " ",
            base[:10],
            "2024-02-29T12:00:00",
            "2023-02-29T12:00:00",
            "2023-02-29T12:00:00.123Z",
            "2026-03-08T24:00:00",
            "2026-03-08T23:59:60",
            "0000-01-01T00:00:00",
            "0001-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "1e12",
            "nan",
            "inf",
            "not a time",
            "١٧٧٢٩٣١٧٢٣٤٥٦",
            "+1772931723456",
        ]
    )


def _usual_integer(rng: random.Random) -> str:
    return str(rng.choice([0, rng.randrange(1000), -rng.randrange(10**6), rng.randrange(10**17)]))


def _odd_integer(rng: random.Random) -> str:
    return rng.choice(
        ["-0", "+5", "007", "1.0", "1.5", "1e3", "2E2", " 5", "5 ", "1_000", "٣", "0x10", "-",
         "nan", "inf", "9" * 19, "-" + "9" * 19, "9" * 30, "12345678901234567890.0", "1e400",
         "true", "3.0000000000000001"]
    )  # fmt: skip


def _usual_number(rng: random.Random) -> str:
    whole = rng.choice(["0", str(rng.randrange(1, 10**5))])
    fraction = str(rng.randrange(10 ** rng.randrange(1, 6))).rstrip("0") or "5"
    return rng.choice(["", "-"]) + whole + "." + fraction


def _odd_number(rng: random.Random) -> str:
    return rng.choice(
        ["1", "-0", "1.50", "0.0001", "0.00012", "1e5", "1E-7", "-0.0", "nan", "inf", "-inf",
         "Infinity", ".5", "5.", "1e400", "123456789012345678", "0.1234567", "1.0000000000000002",
         "1_0.5", " 2.5", "٣.5", "12345678.5", "1234567.25"]
    )  # fmt: skip


_TRUE_FORMS = ["true", "True", "TRUE", "t", "T", "1", "yes", "Yes", "y", "Y"]
_FALSE_FORMS = ["false", "False", "FALSE", "f", "F", "0", "no", "No", "n", "N"]


def _usual_boolean(rng: random.Random) -> str:
    return rng.choice(["true", "false"])


def _odd_boolean(rng: random.Random) -> str:
    return rng.choice(_TRUE_FORMS + _FALSE_FORMS + [" true", "tRuE", "2", "1.0", "on", "nope"])


def _text(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))


_ODD_TEXT = string.ascii_letters + "\"\\'/\t\n\r\x00\x01\x1f\x7f,;{}[]é€𝄞\u2028\ufeff"


def _json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**53 + 1, 10**20, 10**30, rng.randrange(10**6)])
    if kind == 3:
        return rng.choice([0.5, -2.25, 1e-7, 1.5e300, 3.0, -0.0, 5e-324])
    if kind in (4, 5):
        return _text(rng, _ODD_TEXT)
    if kind in (6, 7):
        return {_text(rng, _ODD_TEXT): _json_value(rng, depth + 1) for _ in range(rng.randrange(4))}
    return [_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]


def _usual_object(rng: random.Random) -> str:
    value = {"~channel": _text(rng, string.ascii_letters), "n": rng.randrange(100)}
    return json.dumps(value, separators=(",", ":"))


def _odd_object(rng: random.Random) -> str:
    value = {_text(rng, _ODD_TEXT): _json_value(rng) for _ in range(rng.randrange(4))}
    text = json.dumps(value, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 1]))
    return rng.choice(
        [text, text, " " + text, text + " ", text + text, text[:-1], "[]", "null", "1",
         '{"a":1,"a":2}', '{"big":1e999}', '{"x":1E400}', '{"s":"\\ud800"}', "{}", "{ }",
         '{"tiny":1e-400}', '{"sku":"E-1000 e+123"}']
    )  # fmt: skip


def _usual_tags(rng: random.Random) -> str:
    return repr([_text(rng, string.ascii_letters) for _ in range(rng.randrange(3))])


def _odd_tags(rng: random.Random) -> str:
    words = [_text(rng, _ODD_TEXT.replace("\x00", "")) for _ in range(rng.randrange(3))]
    return rng.choice(
        [json.dumps(words), repr(words), repr(tuple(words)), str(words).replace(", ", ","),
         "['it''s']", "[\"it's\", 'vip']", "[1, 2]", "['a', ['b']]", "{}", "['unclosed'",
         " ['x']", "['x'] ", "[]", "[ ]", "['a',]", "[None]", "['\\x00']", "['\\u00e9']"]
    )  # fmt: skip


def _usual_flags(rng: random.Random) -> str:
    return json.dumps([rng.random() < 0.5 for _ in range(rng.randrange(3))], separators=(",", ":"))


def _odd_flags(rng: random.Random) -> str:
    return rng.choice(
        ["[true, false]", "[ ]", "[1,0]", '["true"]', "[null]", "true", "[True]", " [true]",
         "[true]x", '[true,"a"]', "[tru]", "['a']", "[false]\n"]
    )  # fmt: skip


def _usual_scores(rng: random.Random) -> str:
    values = [round(rng.random(), rng.randrange(1, 5)) for _ in range(rng.randrange(3))]
    return json.dumps(values, separators=(",", ":"))


def _odd_scores(rng: random.Random) -> str:
    return rng.choice(
        ["[1]", "[1e400]", "[NaN]", '["0.5"]', "[0.5, 1]", "[-0.0]", "[1E-7]", "[null]", "[true]",
         "[1,]", "[9007199254740993]", "[.5]", "0.5", "[1e5,2]"]
    )  # fmt: skip


def _usual_name(rng: random.Random) -> str:
    return _text(rng, string.ascii_letters + " ")


def _odd_name(rng: random.Random) -> str:
    return _text(rng, _ODD_TEXT) or "x"


KINDS = {
    "name": (_usual_name, _odd_name),
    "timestamp": (None, _odd_timestamp),
    "created": (None, _odd_timestamp),
    "count": (_usual_integer, _odd_integer),
    "amount": (_usual_number, _odd_number),
    "flag": (_usual_boolean, _odd_boolean),
    "data": (_usual_object, _odd_object),
    "tags": (_usual_tags, _odd_tags),
    "flags": (_usual_flags, _odd_flags),
    "scores": (_usual_scores, _odd_scores),
    "label": (_usual_name, _odd_name),
}
HEADER = ["id", *KINDS, "surprise"]
DATE_TIMES = ("timestamp", "created")


def _rows(rng: random.Random, count: int, run: int) -> list[list[str]]:
    """Runs of `run` rows in which each column keeps one mood: usual, a few odd, odd, empty,
    or usual with empty cells (timestamps keep one usual form a run)."""
    rows: list[list[str]] = []
    while len(rows) < count:
        moods = {
            column: rng.choice(["usual", "usual", "few odd", "odd", "empty", "holes"])
            for column in KINDS
        }
        form, created = rng.randrange(3), rng.randrange(3)
        for _ in range(run):
            row = [str(len(rows))]
            for column, (usual, odd) in KINDS.items():
                mood = moods[column]
                if mood == "empty" or (mood == "holes" and rng.random() < 0.3):
                    row.append("")
                elif mood == "odd" or (mood == "few odd" and rng.random() < 0.05):
                    row.append(odd(rng))
                elif column in DATE_TIMES:
                    row.append(_usual_timestamp(rng, form if column == "timestamp" else created))
                else:
                    row.append(usual(rng))
            row.append(rng.choice(["", "", "kept", 'é,"x"']))
            rows.append(row)
    return rows


def _row_path(header: list[str]) -> t.Callable[[list[str]], dict]:
    """The row path's record of a row, its raw epoch-ms copy included, as the streams type it."""
    typer = RowTyper(SCHEMA, header, source="file", constants=CONSTANTS)
    millis = RawMillis(SCHEMA, header)
    return lambda cells: millis.from_cells(typer(cells), cells)


def _csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return text.getvalue().encode()


class _BytesReader:
    """`FileReader.items` over bytes in memory: each call reads the file from its start."""

    stream = None

    def __init__(self, data: bytes) -> None:
        self.data = data

    def items(self, url, parse, *, refresh=None, size=None, source=None):
        yield from parse(io.BufferedReader(io.BytesIO(self.data)))


class _PacedRoute(t.NamedTuple):
    """A route's pace and affixes (`tap_branch.records.route.Route`), with batches of chosen sizes."""

    pace: Pace

    def affixes(self, stream: object) -> tuple[str, str]:
        return JSON_LINES


def _lines_as_the_tap_reads(
    rng: random.Random, data: bytes, batch_bytes: int | None = None
) -> tuple[list[bytes], int]:
    """Each record's line, as the tap reads a file (`csv_items`): pyarrow's batches typed,
    then, where pyarrow cannot go on (a ragged row, a row longer than its block), the row
    path's records of the rest; and how many rows the columnar path typed."""
    lines: list[bytes] = []
    typed = 0
    batch_bytes = batch_bytes or rng.choice([700, 3000, 20000])
    batch_rows = rng.choice([None, None, 5, 64])  # batches cut by rows too: slices of a block
    pace = Pace(batch_bytes, batch_bytes, typed_ahead=1, batch_rows=batch_rows or 2048)
    source = FileSource(
        "https://files.example/file.csv",
        "file",
        CONSTANTS,
        schema_for=lambda header: SCHEMA,
        key_columns=["id"],
    )
    items = csv_items(
        _BytesReader(data),
        source,
        deselected=(),
        route=_PacedRoute(pace),
        warnings=Warnings(LOG),
        logger=LOG,
    )
    for item in items:
        if isinstance(item, dict):
            lines.append(msgspec.json.encode(item) + b"\n")
            continue
        typed += item.count
        lines.extend(bytes(item.lines()).splitlines(keepends=True))
    return lines, typed


@pytest.mark.parametrize("seed", range(12))
def test_generated_cells_give_the_row_paths_records(seed):
    rng = random.Random(seed)
    _assert_the_row_paths_records(rng, _csv(_rows(rng, 1200, run=rng.choice([7, 40, 150]))))


def _assert_the_row_paths_records(
    rng: random.Random, data: bytes, batch_bytes: int | None = None
) -> None:
    """The columnar path's lines for the CSV `data` are the row path's records, one strict
    JSON line each, valid against the schema; no cell is lost on the row path either."""
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    row_path = _row_path(rows[0])
    expected = [msgspec.json.decode(msgspec.json.encode(row_path(cells))) for cells in rows[1:]]
    for cells, record in zip(rows[1:], expected, strict=True):
        # No cell is lost: each gives a value, or is kept raw beside the null.
        for column, cell in zip(rows[0], cells, strict=True):
            if cell and column in KINDS and record[column] is None:
                assert record.get("unparsed_cells", {}).get(column) == cell, (column, cell)

    lines, typed = _lines_as_the_tap_reads(rng, data, batch_bytes)
    assert typed > 0

    assert len(lines) == len(expected)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True)):
        assert line.endswith(b"\n") and line.count(b"\n") == 1, number
        got = json.loads(line)  # strict JSON: no raw control characters, no NaN
        # The same values of the same types (7.0 is not 7, -0.0 not 0.0), keys in one order.
        assert msgspec.json.encode(got) == msgspec.json.encode(want), (number, line, want)
        VALIDATOR.validate(got)


# --- every form the row path reads, drawn by Hypothesis, alone and mixed in a column ---------
# Each column of a drawn file takes one to three forms (and sometimes odd cells and holes):
# the columnar path types a column of one form in one call and splits mixed ones by form, so
# both must give the row path's records whatever the mix and wherever the batches cut it.

_NAIVE_EPOCH = dt.datetime(1970, 1, 1)


def _epoch_seconds(when: dt.datetime) -> int:
    return (when - _NAIVE_EPOCH) // dt.timedelta(seconds=1)


def _fraction(when: dt.datetime, digits: int) -> str:
    return "." + f"{when.microsecond:06d}"[:digits]


#: Every timestamp form the row path reads, from a UTC instant (and, for offsets, a zone).
TIMESTAMP_FORMS: dict[str, t.Callable[[dt.datetime, dt.timezone], str]] = {
    "no zone (the legacy export)": lambda when, _: when.isoformat(timespec="seconds"),
    "milliseconds Z (Branch's usual)": lambda when, _: (
        when.isoformat(timespec="milliseconds") + "Z"
    ),
    "milliseconds Z, space": lambda when, _: when.isoformat(" ", "milliseconds") + "Z",
    "epoch milliseconds": lambda when, _: str(
        _epoch_seconds(when) * 1000 + when.microsecond // 1000
    ),
    "epoch seconds": lambda when, _: str(_epoch_seconds(when)),
    "isoformat Z": lambda when, _: when.isoformat() + "Z",
    "isoformat, space, Z": lambda when, _: when.isoformat(" ") + "Z",
    "seconds Z": lambda when, _: when.isoformat(timespec="seconds") + "Z",
    "microseconds Z": lambda when, _: when.isoformat(timespec="microseconds") + "Z",
    "1 digit Z": lambda when, _: when.isoformat(timespec="seconds") + _fraction(when, 1) + "Z",
    "2 digits Z": lambda when, _: when.isoformat(timespec="seconds") + _fraction(when, 2) + "Z",
    "4 digits Z": lambda when, _: when.isoformat(timespec="seconds") + _fraction(when, 4) + "Z",
    "5 digits, no zone": lambda when, _: when.isoformat(timespec="seconds") + _fraction(when, 5),
    "isoformat, no zone": lambda when, _: when.isoformat(),
    "isoformat, space, no zone": lambda when, _: when.isoformat(" "),
    "+00:00": lambda when, _: when.isoformat() + "+00:00",
    "+0000 (Branch's *_timestamp_iso)": lambda when, _: when.isoformat(" ", "seconds") + "+0000",
    "-00:00": lambda when, _: when.isoformat(timespec="milliseconds") + "-00:00",
    "offset": lambda when, zone: when.replace(tzinfo=dt.timezone.utc).astimezone(zone).isoformat(),
    "offset without colon": lambda when, zone: (
        when.replace(tzinfo=dt.timezone.utc).astimezone(zone).isoformat(timespec="seconds")[:-3]
        + when.replace(tzinfo=dt.timezone.utc).astimezone(zone).isoformat()[-2:]
    ),
}

#: Cells at the edges of what either side reads: years 0 and 10000, offsets that carry an
#: instant out of Python's years, days not in the calendar, zones and fractions just out of
#: the forms, epochs at the millisecond threshold and the ends of Python's years.
EDGE_TIMESTAMPS = [
    "0000-01-01T00:00:00", "0000-12-31T23:59:59Z", "0000-12-31T23:00:00-05:00",
    "0001-01-01T00:00:00+00:30", "0001-01-01T00:00:00-00:30", "9999-12-31T23:59:59-00:01",
    "9999-12-31T23:59:59.999999Z", "0001-01-01T00:00:00.000Z", "2023-02-29T12:00:00Z",
    "2024-02-29 12:00:00+0000", "2024-04-31T00:00:00", "2024-01-01T00:00:00+24:00",
    "2024-01-01T00:00:00+0099", "2024-01-01T24:00:00Z", "2024-01-01T00:00:60Z",
    "2024-01-01T00:00:00.1234567Z", "2024-01-01T00:00:00.Z", "2024-01-01T12Z",
    "2024-01-01T12:00Z", "2024-01-01", "2024-01-01T12:00:00+05", "2024-01-01t00:00:00z",
    "2024-01-01T00:00:00.000000Z", "2024-01-01T00:00:00.000+00:00", "253402300799",
    "253402300800", "253402300799999", "253402300800000", "-62135596800", "-62135596801",
    "-62135596800000", "-62135596800001", "99999999999", "100000000000", "-0", "00", "0012",
    "1" * 19,
]  # fmt: skip

_INSTANTS = st.one_of(
    st.datetimes(min_value=dt.datetime(2015, 1, 1), max_value=dt.datetime(2030, 1, 1)),
    st.datetimes(),  # years 1 to 9999: offsets may carry them out of Python's range
    st.datetimes().map(lambda when: when.replace(microsecond=0)),
    st.datetimes().map(lambda when: when.replace(microsecond=when.microsecond // 1000 * 1000)),
)
_ZONES = st.builds(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)


@st.composite
def _timestamp_cell(draw: st.DrawFn, forms: list[str]) -> str:
    form = draw(st.sampled_from(forms))
    if form == "edges":
        return draw(st.sampled_from(EDGE_TIMESTAMPS))
    return TIMESTAMP_FORMS[form](draw(_INSTANTS), draw(_ZONES))


def _number_texts() -> st.SearchStrategy[str]:
    finite = st.floats(allow_nan=False, allow_infinity=False)
    return st.one_of(
        finite.map(repr),
        st.integers(-(10**20), 10**20).map(str),
        st.decimals(-(10**9), 10**9, allow_nan=False, allow_infinity=False, places=4).map(str),
        st.builds(lambda x, places: f"{x:.{places}f}", finite, st.integers(0, 6)),
        st.sampled_from(["1.50", "2.000", "-0", "0.0", "007", "1e5", " 3.5", "nan", "0.0001"]),
    )


def _json_object_texts() -> st.SearchStrategy[str]:
    values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
        max_leaves=6,
    )
    return st.builds(
        lambda obj, separators, ascii: json.dumps(obj, separators=separators, ensure_ascii=ascii),
        st.dictionaries(st.text(max_size=8), values, max_size=4),
        st.sampled_from([(",", ":"), (", ", ": ")]),  # compact, or Python's default
        st.booleans(),
    )


#: Per column: the strategies of its cells' forms (a column draws one to three of them).
_FORMS_BY_COLUMN: dict[str, dict[str, st.SearchStrategy[str]]] = {
    "count": {
        "integer": st.integers(-(10**18), 10**18).map(str),
        "integral float": st.integers(-(10**6), 10**6).map(lambda number: f"{number}.0"),
    },
    "amount": {
        "decimal": _number_texts(),
        "money": st.builds(lambda c: f"{c / 100:.2f}", st.integers(0, 10**9)),
    },
    "flag": {"word": st.sampled_from(_TRUE_FORMS + _FALSE_FORMS)},
    "data": {"object": _json_object_texts()},
    "name": {"text": st.text()},
    "label": {"text": st.text(), "plain": st.text(string.ascii_letters)},
}


@st.composite
def _drawn_csv(draw: st.DrawFn) -> bytes:
    count = draw(st.integers(1, 120))
    legacy = draw(st.randoms(use_true_random=False))  # the seeded generators' odd cells
    columns: dict[str, list[str]] = {}
    for column in KINDS:
        if column in DATE_TIMES:
            forms = draw(
                st.lists(st.sampled_from([*TIMESTAMP_FORMS, "edges"]), min_size=1, max_size=3)
            )
            cell = _timestamp_cell(forms)
        elif column in ("tags", "flags", "scores"):  # lists: the seeded generators' usual ones
            usual = KINDS[column][0]
            cell = st.builds(lambda _, usual=usual: usual(legacy), st.none())
        else:
            strategies = _FORMS_BY_COLUMN[column]
            chosen = draw(st.lists(st.sampled_from(sorted(strategies)), min_size=1, max_size=2))
            cell = st.one_of(*(strategies[name] for name in chosen))
        odd, holes = draw(st.sampled_from([0, 0, 0.05, 0.5])), draw(st.sampled_from([0, 0.3, 1]))
        cells = []
        for _ in range(count):
            roll = draw(st.floats(0, 1))
            if roll < holes * 0.5:
                cells.append("")
            elif roll > 1 - odd:
                cells.append(KINDS[column][1](legacy))
            else:
                cells.append(draw(cell))
        columns[column] = cells
    rows = [
        [str(number), *(columns[column][number] for column in KINDS), ""] for number in range(count)
    ]
    return _csv(rows)


@pytest.mark.parametrize("form", TIMESTAMP_FORMS)
def test_one_edge_cell_in_a_batch_of_one_form_gives_the_row_paths_records(form):
    """Each edge cell alone in a batch otherwise all of one form (and written with that
    form's zones where it has none): the form's bulk cast must not vouch for it."""
    instants = [dt.datetime(2026, 11, 20, 19, 31, 46, 789000), dt.datetime(1999, 1, 1)]
    zone = dt.timezone(dt.timedelta(hours=-8))
    usual = [TIMESTAMP_FORMS[form](when, zone) for when in instants]
    for edge in EDGE_TIMESTAMPS:
        for cell in [edge, *(edge + zone for zone in ("Z", "+00:00", "+0000"))]:
            rows = [
                [str(number), "", timestamp, *[""] * (len(KINDS) - 2), ""]
                for number, timestamp in enumerate([*usual, cell])
            ]
            _assert_the_row_paths_records(random.Random(cell), _csv(rows), batch_bytes=1 << 20)


def test_arrow_reads_no_other_text_of_the_lengths_isoformat_prints():
    """`encode._Form` takes a cell of 19 or 26 characters before a UTC zone, when Arrow's
    ISO-8601 cast reads it, for `isoformat()`'s text (with a `T`) without printing the instant
    back: every one-character change of such a text that Arrow still reads must be one the row
    path prints so, and texts of those lengths in other layouts must be refused."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from tap_branch.records.typers import parse_datetime

    texts = ["2024-05-01T12:34:56", "2024-05-01T12:34:56.123456", "2024-05-01 12:34:56.123456"]
    other_layouts = [
        "2024-05-01T123456.12345678", "20240501T12:34:56.12345678", "2024-05-01T12:34:56.1+0100",
        "2024-05-01T12:34.123456789", "2024-05-01T12:34+01:00:00", "+2024-05-01T12:34:5",
        "2024-05-01T12:34:56+01:0", "2024-05-01T12:34:56.12+01", "2024-05-01T1234:56.123456",
        "2024-05-01T12:3456.1234567", "2024-05-01T12:34:56.123+01", "2024-05-01T12:34+0130",
    ]  # fmt: skip
    for suffix in ["Z", "+00:00", "+0000", ""]:
        timestamps = pa.timestamp("us", "UTC") if suffix else pa.timestamp("us")
        changed = [
            text[:position] + char + text[position + 1 :]
            for text in texts
            for position in range(len(text))
            for char in "T :-+.Z09zt/_,x"
        ]
        for bare in changed + other_layouts:
            try:
                pc.cast(pa.array([bare + suffix]), timestamps)
            except pa.ArrowInvalid:
                continue
            assert bare not in other_layouts, bare + suffix
            if bare.endswith(".000000"):
                continue  # not isoformat()'s: `_Form` leaves it to the patterns
            printed = parse_datetime(bare + suffix).removesuffix("+00:00")
            assert printed == bare[:10] + "T" + bare[11:], bare + suffix


@settings(
    max_examples=60,
    derandomize=True,  # the same examples every run: a failure is a fixed, reproducible file
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(data=_drawn_csv(), seed=st.integers(0, 2**16))
def test_every_accepted_form_and_their_mixes_give_the_row_paths_records(data, seed):
    _assert_the_row_paths_records(random.Random(seed), data)


# --- the CSV text itself: quoting, line ends, blank and ragged lines --------------------------
# pyarrow and Python's csv module must read the same rows from the same text, or pyarrow must
# refuse it (the row path then reads the rest): never a row read another way.


def _field(rng: random.Random, cell: str) -> str:
    """`cell` as a CSV writer might write it, or as a sloppy one might."""
    plain = not any(char in cell for char in ',"\r\n')
    quoted = '"' + cell.replace('"', '""') + '"'
    if not cell:
        return rng.choice(["", "", '""'])
    if not plain:
        return quoted
    return rng.choice(
        [cell, cell, cell, quoted, ' "' + cell + '"', cell + '"', '"' + cell + '"x', 'a"' + cell]
    )


def _sloppy_csv(rng: random.Random, rows: list[list[str]]) -> bytes:
    end = rng.choice(["\r\n", "\n"] * 3 + ["\r"])  # a lone \r: the row path reads those files
    ragged = rng.choice([0, 0, 0.002])  # both paths refuse the first (pyarrow hands it over)
    lines = [",".join(HEADER)]
    for row in rows:
        shape = rng.random()
        if shape < 0.02:
            lines.append("")  # a blank line
        elif shape < 0.02 + ragged:
            row = row[: rng.randrange(1, len(row))]  # a short row
        elif shape < 0.02 + 2 * ragged:
            row = [*row, "overflow"]  # a long one
        lines.append(",".join(_field(rng, cell) for cell in row))
    text = end.join(lines) + rng.choice([end, ""])
    return (rng.choice(["", "\ufeff"]) + text).encode()


@pytest.mark.parametrize("seed", range(12))
def test_sloppy_csv_text_gives_the_row_paths_records(seed):
    rng = random.Random(seed)
    data = _sloppy_csv(rng, _rows(rng, 600, run=rng.choice([7, 40])))

    def row_path_records(skip: int = 0) -> t.Iterator[dict]:
        rows = csv_rows(io.BufferedReader(io.BytesIO(data)), ["id"])
        row_path = _row_path(next(rows))
        for cells in itertools.islice(filter(None, rows), skip, None):  # blank lines: no rows
            yield row_path(cells)

    expected = []
    try:
        for record in row_path_records():
            expected.append(msgspec.json.decode(msgspec.json.encode(record)))
    except UnexpectedContent as refused:  # a ragged row: the rows before it, then this error
        with pytest.raises(UnexpectedContent, match=re.escape(str(refused))):
            _lines_as_the_tap_reads(rng, data)
        return
    lines, _ = _lines_as_the_tap_reads(rng, data)
    assert len(lines) == len(expected)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True)):
        got = json.loads(line)
        assert got == want and list(got) == list(want), (number, line, want)
