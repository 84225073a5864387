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
import functools
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

from tap_branch.columnar.csv_batches import csv_batches
from tap_branch.columnar.records import (
    JSON_LINES,
    ColumnarTyper,
    raw_millis_copies,
    typed_then_rows,
)
from tap_branch.downloads import csv_rows
from tap_branch.file_checks import UnexpectedContent
from tap_branch.schemas.ontology import RawMillis
from tap_branch.typing import CATCH_ALL_PROPERTIES, RowTyper

SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": ["string"]},
        "name": {"type": ["string", "null"]},
        "timestamp": {"type": ["string", "null"], "format": "date-time"},
        "timestamp_ms": {"type": ["integer", "null"]},  # Daily Exports v3's raw number beside it
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
         '{"a":1,"a":2}', '{"big":1e999}', '{"x":1E400}', '{"s":"\\ud800"}', "{}", "{ }"]
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
    "count": (_usual_integer, _odd_integer),
    "amount": (_usual_number, _odd_number),
    "flag": (_usual_boolean, _odd_boolean),
    "data": (_usual_object, _odd_object),
    "tags": (_usual_tags, _odd_tags),
    "flags": (_usual_flags, _odd_flags),
    "scores": (_usual_scores, _odd_scores),
}
HEADER = ["id", *KINDS, "surprise"]


def _rows(rng: random.Random, count: int, run: int) -> list[list[str]]:
    """Runs of `run` rows in which each column keeps one mood: usual, a few odd, odd, empty,
    or usual with empty cells (timestamps keep one usual form a run)."""
    rows: list[list[str]] = []
    while len(rows) < count:
        moods = {
            column: rng.choice(["usual", "usual", "few odd", "odd", "empty", "holes"])
            for column in KINDS
        }
        form = rng.randrange(3)
        for _ in range(run):
            row = [str(len(rows))]
            for column, (usual, odd) in KINDS.items():
                mood = moods[column]
                if mood == "empty" or (mood == "holes" and rng.random() < 0.3):
                    row.append("")
                elif mood == "odd" or (mood == "few odd" and rng.random() < 0.05):
                    row.append(odd(rng))
                elif column == "timestamp":
                    row.append(_usual_timestamp(rng, form))
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


def _typer(schema: dict, batch: object) -> ColumnarTyper:
    header = batch.schema.names
    copies = raw_millis_copies(schema, header)
    return ColumnarTyper(schema, header, source="file", constants=CONSTANTS, copies=copies)


def _csv(rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return text.getvalue().encode()


def _lines_as_the_tap_reads(
    rng: random.Random, data: bytes, rest: t.Callable[[int], t.Iterable[dict]]
) -> tuple[list[bytes], int]:
    """Each record's line, as the tap reads a file: pyarrow's batches typed, then, where
    pyarrow cannot go on (a ragged row, a row longer than its block), `rest(rows given)`;
    and how many rows the columnar path typed."""
    lines: list[bytes] = []
    typed = 0
    body = io.BufferedReader(io.BytesIO(data))
    batches = csv_batches(body, ["id"], batch_bytes=rng.choice([700, 3000, 20000]))
    typer_for = functools.partial(_typer, SCHEMA)
    for item in typed_then_rows(
        batches, typer_for, rest, affixes=lambda: JSON_LINES, ahead=1, source="file", logger=LOG
    ):
        if isinstance(item, dict):
            lines.append(msgspec.json.encode(item) + b"\n")
            continue
        typed += item.count
        lines.extend(bytes(item.lines()).splitlines(keepends=True))
    return lines, typed


@pytest.mark.parametrize("seed", range(12))
def test_generated_cells_give_the_row_paths_records(seed):
    rng = random.Random(seed)
    data = _csv(_rows(rng, 1200, run=rng.choice([7, 40, 150])))
    rows = list(csv.reader(io.StringIO(data.decode(), newline="")))
    row_path = _row_path(rows[0])
    expected = [msgspec.json.decode(msgspec.json.encode(row_path(cells))) for cells in rows[1:]]
    for cells, record in zip(rows[1:], expected, strict=True):
        # No cell is lost: each gives a value, or is kept raw beside the null.
        for column, cell in zip(rows[0], cells, strict=True):
            if cell and column in KINDS and record[column] is None:
                assert record.get("unparsed_cells", {}).get(column) == cell, (column, cell)

    lines, typed = _lines_as_the_tap_reads(
        rng, data, lambda given: (row_path(cells) for cells in rows[1 + given :])
    )
    assert typed > 0

    assert len(lines) == len(expected)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True)):
        assert line.endswith(b"\n") and line.count(b"\n") == 1, number
        got = json.loads(line)  # strict JSON: no raw control characters, no NaN
        assert got == want, (number, line, want)
        assert list(got) == list(want), number
        VALIDATOR.validate(got)


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
            _lines_as_the_tap_reads(rng, data, row_path_records)
        return
    lines, _ = _lines_as_the_tap_reads(rng, data, row_path_records)
    assert len(lines) == len(expected)
    for number, (line, want) in enumerate(zip(lines, expected, strict=True)):
        got = json.loads(line)
        assert got == want and list(got) == list(want), (number, line, want)
