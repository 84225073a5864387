"""Per-column converters and the row/dict typers built from a stream's schema."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import random
import sys
import threading

import jsonschema
import msgspec
import pytest

from tap_branch.records.typers import (
    EXTRA,
    UNPARSED,
    DictTyper,
    RowTyper,
    converter_for,
    parse_boolean,
    parse_count,
    parse_datetime,
    parse_integer,
    parse_number,
    parse_number_keeping_integers,
    parse_python_text_list,
)
from tap_branch.streams.daily.v1 import EventsStream, LinkClicksStream, LinksStream
from tap_branch_sandbox import daily_export as sandbox_daily
from tap_branch_sandbox import synthetic

CLICKS = LinkClicksStream.schema
LINKS = LinksStream.schema


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-02T03:04:05Z", "2024-01-02T03:04:05+00:00"),
        ("2024-01-02T03:04:05.123Z", "2024-01-02T03:04:05.123000+00:00"),
        ("2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05+00:00"),
        # Another offset is converted to UTC, naive text is taken as UTC.
        ("2024-01-02T03:04:05.123+02:00", "2024-01-02T01:04:05.123000+00:00"),
        ("2024-01-02 03:04:05", "2024-01-02T03:04:05+00:00"),
        ("2024-01-02", "2024-01-02T00:00:00+00:00"),
        # Epoch seconds and milliseconds, as text and as numbers.
        ("1704164645", "2024-01-02T03:04:05+00:00"),
        ("1704164645123", "2024-01-02T03:04:05.123000+00:00"),
        ("1704164645.5", "2024-01-02T03:04:05.500000+00:00"),
        (1704164645, "2024-01-02T03:04:05+00:00"),
        (1704164645123, "2024-01-02T03:04:05.123000+00:00"),
        (1704164645.0, "2024-01-02T03:04:05+00:00"),
        ("0", "1970-01-01T00:00:00+00:00"),
        # Padding around a value (hand-edited exports) does not hide it.
        (" 2024-01-02T03:04:05Z ", "2024-01-02T03:04:05+00:00"),
        (" 1704164645123", "2024-01-02T03:04:05.123000+00:00"),
    ],
)
def test_datetimes_become_utc_iso(value, expected):
    assert parse_datetime(value) == expected


@pytest.mark.parametrize(
    "value", ["", "abc", "not-a-timestamp", "nan", "inf", "2024-13-45", True, None]
)
def test_bad_datetimes_raise_value_error(value):
    with pytest.raises((ValueError, TypeError)):
        parse_datetime(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("t", True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        (True, True),
        (False, False),
    ],
)
def test_booleans(value, expected):
    assert parse_boolean(value) is expected


def test_bad_boolean_raises():
    with pytest.raises(ValueError):
        parse_boolean("maybe")


def test_numbers():
    assert parse_integer("42") == 42
    assert parse_integer("42.0") == 42
    assert parse_number("1.5") == 1.5
    with pytest.raises(ValueError):
        parse_integer("1.5")
    with pytest.raises(ValueError):
        parse_integer(True)


@pytest.mark.parametrize("cell", ["nan", "NaN", "inf", "-Infinity", "1e400"])
def test_numbers_json_cannot_hold_are_refused_not_written_as_null(cell):
    # msgspec writes NaN and infinities as null: the cell would vanish without a trace.
    with pytest.raises(ValueError):
        parse_number(cell)
    record = _typer({"properties": {"amount": {"type": ["number", "null"]}}}, ["amount"])([cell])
    assert record["amount"] is None and record[UNPARSED] == {"amount": cell}


PERSONA = {
    "type": ["array", "null"],
    "items": {
        "type": "object",
        "properties": {
            "id": {"type": ["string", "null"]},
            "guaranteed": {"type": ["boolean", "null"]},
        },
        "additionalProperties": True,
    },
}


@pytest.mark.parametrize(
    ("prop", "cell"),
    [
        ({"type": ["array", "null"], "items": {"type": ["string"]}}, "[1, 2]"),
        ({"type": ["array", "null"], "items": {"type": ["string"]}}, '["a", null]'),
        (PERSONA, '[{"id": 5}]'),
        (PERSONA, '[{"id": "x", "guaranteed": "yes"}]'),
        (PERSONA, '["x"]'),
        ({"type": ["object"], "additionalProperties": {"type": ["string"]}}, '{"a": 1}'),
    ],
)
def test_json_cells_whose_inside_breaks_the_schema_are_kept_raw(prop, cell):
    with pytest.raises(ValueError):
        converter_for(prop)(cell)
    record = _typer({"properties": {"field": prop}}, ["field"])([cell])
    assert record["field"] is None and record[UNPARSED] == {"field": cell}


def test_json_cells_are_checked_only_for_what_the_schema_says():
    persona = converter_for(PERSONA)
    value = [{"id": "x", "other": [1, {"deep": None}]}, {}, {"id": None, "guaranteed": True}]
    assert persona(msgspec.json.encode(value).decode()) == value  # other keys kept as they are
    assert converter_for({"type": ["object"], "additionalProperties": True})('{"a": [1]}') == {
        "a": [1]
    }
    assert converter_for({"type": ["array"], "items": {"type": "number"}})("[1, 2.5]") == [1, 2.5]


def test_converter_choice_follows_the_schema():
    props = CLICKS["properties"]
    assert converter_for(props["click_timestamp"]) is parse_datetime
    assert converter_for(props["sms_from_desktop"]) is parse_boolean
    assert converter_for(props["link_data"])('{"a": 1}') == {"a": 1}
    assert converter_for(props["link_tags"])('["x", "y"]') == ["x", "y"]
    # An object column refuses a JSON array and vice versa: the cell is not what the schema says.
    with pytest.raises(ValueError):
        converter_for(props["link_data"])("[1]")
    with pytest.raises(ValueError):
        converter_for(props["link_tags"])('{"a": 1}')
    assert converter_for({"type": ["integer", "null"]}) is parse_integer
    assert converter_for({"anyOf": [{"type": "number"}, {"type": "null"}]}) is parse_number


def _typer(schema, header, **kwargs):
    return RowTyper(schema, header, source="test file", constants={"app_id": "app-1"}, **kwargs)


def test_row_typer_types_every_cell_once():
    header = [
        "click_timestamp",
        "branch_link_click_id",
        "sms_from_desktop",
        "link_data",
        "link_tags",
        "os",
    ]
    record = _typer(CLICKS, header)(
        [
            "1704164645123",
            "123456789012345678901",
            "true",
            '{"$og_title":"Café, \\"50%\\"\\nnew"}',
            '["ünï","b"]',
            "",
        ]
    )
    assert record["click_timestamp"] == "2024-01-02T03:04:05.123000+00:00"
    # Long numeric ids stay exact text.
    assert record["branch_link_click_id"] == "123456789012345678901"
    assert record["sms_from_desktop"] is True
    assert record["link_data"] == {"$og_title": 'Café, "50%"\nnew'}
    assert record["link_tags"] == ["ünï", "b"]
    assert record["os"] is None  # an empty cell is null
    assert record["app_id"] == "app-1"
    assert UNPARSED not in record and EXTRA not in record


def test_empty_typed_cells_are_null_not_unparsed():
    record = _typer(CLICKS, ["click_timestamp", "link_data", "sms_from_desktop"])(["", "", ""])
    assert (
        record["click_timestamp"] is None
        and record["link_data"] is None
        and record["sms_from_desktop"] is None
    )
    assert UNPARSED not in record


def test_bad_cells_are_kept_as_text_and_logged_once(caplog):
    warned: set = set()
    typer = _typer(
        CLICKS, ["click_timestamp", "link_data", "sms_from_desktop", "link_tags"], warned=warned
    )
    with caplog.at_level(logging.WARNING):
        first = typer(["yesterday-ish", "{not json", "maybe", "[1,"])
        second = typer(["also bad", '{"ok": true}', "false", "[]"])
    assert first["click_timestamp"] is None and first["link_data"] is None
    assert first["sms_from_desktop"] is None and first["link_tags"] is None
    assert first[UNPARSED] == {
        "click_timestamp": "yesterday-ish",
        "link_data": "{not json",
        "sms_from_desktop": "maybe",
        "link_tags": "[1,",
    }
    assert second[UNPARSED] == {"click_timestamp": "also bad"}
    assert second["link_data"] == {"ok": True} and second["sms_from_desktop"] is False
    # One warning per column, naming the file and the catch-all field.
    timestamp_warnings = [r for r in caplog.records if "'click_timestamp'" in r.getMessage()]
    assert len(timestamp_warnings) == 1
    assert "test file" in timestamp_warnings[0].getMessage()
    assert UNPARSED in timestamp_warnings[0].getMessage()
    # A second file of the same stream shares `warned`: no repeat.
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        _typer(CLICKS, ["click_timestamp"], warned=warned)(["bad again"])
    assert not caplog.records


def test_unknown_columns_go_to_extra_columns_and_are_logged_once(caplog):
    warned: set = set()
    with caplog.at_level(logging.WARNING):
        typer = _typer(LINKS, ["link_id", "brand_new_column", "another"], warned=warned)
        _typer(LINKS, ["link_id", "brand_new_column"], warned=warned)
    record = typer(["42", "x,y", ""])
    assert record["link_id"] == "42"
    assert record[EXTRA] == {"brand_new_column": "x,y"}  # empty extra cells are left out
    assert "brand_new_column" not in record
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "brand_new_column" in m]) == 1
    assert EXTRA in messages[0]


def test_missing_documented_columns_are_null():
    record = _typer(LINKS, ["link_id"])(["42"])
    for column in LINKS["properties"]:
        # Every documented column is there; the catch-all keys only when they hold something.
        assert (column in record) is (column not in (UNPARSED, EXTRA)), column
    assert record["creation_timestamp"] is None and record["data"] is None and record["url"] is None


def test_rows_of_another_width_than_the_header_are_refused():
    # `downloads.csv_rows` refuses them first, naming the line: never typed, padded or shifted.
    typer = _typer(LINKS, ["link_id", "channel"])
    for cells in (["42"], ["42", "email", "surplus"]):
        with pytest.raises(ValueError, match=f"a row of {len(cells)} cells, its header 2"):
            typer(cells)


def test_a_file_cannot_overwrite_the_catch_all_or_constant_fields():
    record = _typer(LINKS, ["link_id", UNPARSED, EXTRA])(["42", "oops", "also"])
    assert UNPARSED not in record
    assert record[EXTRA] == {UNPARSED: "oops", EXTRA: "also"}
    # A column named like a constant (the record's key) is kept as text, never typed over it.
    record = _typer(LINKS, ["link_id", "app_id"])(["42", "999"])
    assert record["app_id"] == "app-1" and record[EXTRA] == {"app_id": "999"}
    assert _typer(LINKS, ["link_id", "app_id"])(["42", ""])["app_id"] == "app-1"
    typer = DictTyper(CLICKS, source="test json", constants={"app_id": "app-1"})
    record = typer({"app_id": None, "click_timestamp": 1704164645123})
    assert record["app_id"] == "app-1" and EXTRA not in record
    assert typer({"app_id": 7})[EXTRA] == {"app_id": "7"}


@pytest.mark.parametrize(
    ("kind", "stream"),
    [("links", LinksStream), ("link_clicks", LinkClicksStream), ("events", EventsStream)],
)
def test_sandbox_rows_type_cleanly(kind, stream):
    """Every documented column has a converter that reads what the sandbox (like Branch) writes."""
    make = {
        "links": sandbox_daily.link_row,
        "link_clicks": sandbox_daily.click_row,
        "events": sandbox_daily.event_row,
    }[kind]
    header = sandbox_daily.KINDS[kind]
    typer = _typer(stream.schema, header)
    rng = synthetic.rng_for("typing-test")
    day = dt.date(2024, 5, 1)
    for number in range(200):
        values = make(rng, 7, "app-1", day, number)
        record = typer([values.get(column, "") for column in header])
        assert UNPARSED not in record, record[UNPARSED]
        assert EXTRA not in record
        for column, value in record.items():
            kind_of = stream.schema["properties"][column]
            if value is not None and kind_of.get("format") == "date-time":
                assert value.endswith("+00:00")
            if value is not None and "object" in kind_of.get("type", []):
                assert isinstance(value, dict)


def test_dict_typer_types_json_objects():
    typer = DictTyper(CLICKS, source="test json", constants={"app_id": "app-1"})
    record = typer(
        {
            "click_timestamp": 1704164645123,
            "sms_from_desktop": "no",
            "link_data": {"a": 1},
            "link_tags": '["x"]',
            "os": "IOS",
            "surprise": {"nested": True},
            "model": "",
            "browser": None,
        }
    )
    assert record["click_timestamp"] == "2024-01-02T03:04:05.123000+00:00"
    assert record["sms_from_desktop"] is False
    assert record["link_data"] == {"a": 1} and record["link_tags"] == ["x"]
    assert record["os"] == "IOS" and record["model"] is None and record["browser"] is None
    assert record[EXTRA] == {"surprise": '{"nested":true}'}
    assert record["phone_number"] is None  # absent documented field
    bad = typer({"click_timestamp": "soon", "link_data": [1, 2], "link_tags": ["x", 3]})
    assert bad["click_timestamp"] is None and bad["link_data"] is None and bad["link_tags"] is None
    assert bad[UNPARSED] == {
        "click_timestamp": "soon",
        "link_data": "[1,2]",
        "link_tags": '["x",3]',  # tags are strings: a value already decoded is checked too
    }


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("['iOS']", ["iOS"]),  # Branch's migration guide: first_referring_link_tags
        ("[]", []),
        ("['a', \"it's\", 'ünï']", ["a", "it's", "ünï"]),
        ('["json", "too"]', ["json", "too"]),
    ],
)
def test_legacy_tags_cells_read_as_python_or_json_lists(cell, expected):
    assert converter_for(CLICKS["properties"]["link_tags"])(cell) == expected


@pytest.mark.parametrize("cell", ["[__import__('os')]", "[1, 'a'", "['a'] + ['b']", "[{'a': 1}]"])
def test_only_literal_lists_of_strings_are_read(cell):
    with pytest.raises(ValueError):
        converter_for(CLICKS["properties"]["link_tags"])(cell)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2018-07-11T09:43:01", "2018-07-11T09:43:01+00:00"),  # legacy: no zone, UTC
        ("2018-07-11 00:47:31+0000", "2018-07-11T00:47:31+00:00"),  # v3 `timestamp_iso`
        ("2018-07-11 02:47:31+0200", "2018-07-11T00:47:31+00:00"),
    ],
)
def test_branchs_timestamp_forms(value, expected):
    assert parse_datetime(value) == expected


def test_python_booleans_of_the_legacy_export():
    assert parse_boolean("False") is False and parse_boolean("True") is True


@pytest.mark.parametrize(
    "value", ["2018-07-11T09:43:61", "2018-13-11T09:43:01", "2018-07-11T09:4:301"]
)
def test_zone_less_fast_path_still_validates(value):
    with pytest.raises(ValueError):
        parse_datetime(value)


# --- generated JSON values (newline-delimited exports) -------------------------------------

_GENERATED_SCHEMA = {
    "properties": {
        "text": {"type": ["string", "null"]},
        "when": {"type": ["string", "null"], "format": "date-time"},
        "count": {"type": ["integer", "null"]},
        "amount": {"type": ["number", "null"]},
        "flag": {"type": ["boolean", "null"]},
        "data": {"type": ["object", "null"], "additionalProperties": True, "properties": {}},
        "tags": {"type": ["array", "null"], "items": {"type": ["string"]}},
        "persona_identifiers": PERSONA,
        UNPARSED: {"type": ["object"], "additionalProperties": {"type": ["string"]}},
        EXTRA: {"type": ["object"], "additionalProperties": {"type": ["string"]}},
    }
}


def _any_json_value(rng: random.Random, depth: int = 0) -> object:
    kind = rng.randrange(10 if depth < 2 else 8)
    if kind == 8:
        return [_any_json_value(rng, depth + 1) for _ in range(rng.randrange(3))]
    if kind == 9:
        return {"k": _any_json_value(rng, depth + 1)}
    return rng.choice(
        [
            [None],
            [True, False],
            [0, -7, 2**53 + 1, 10**20, 1_772_931_723_456],
            [0.5, -2.0, 2.5, 1e20, 1.7e12, 1e-7],
            ["", "x", "2026-03-08T01:02:03Z", "1772931723456", "true", "12", "1.5", "nan"],
            ["[]", "{}", '["a"]', "[1]", '{"a": 1}', "['iOS']"],
            [[], {}, ["a", "b"], [1], {"id": "x"}],
            [[{"id": "x", "guaranteed": True}], [{"id": 5}], [{"guaranteed": "yes"}]],
        ][kind]
    )


@pytest.mark.parametrize("seed", range(5))
def test_generated_json_values_are_typed_or_kept_never_changed_or_lost(seed):
    rng = random.Random(seed)
    typer = DictTyper(_GENERATED_SCHEMA, source="generated")
    validator = jsonschema.Draft7Validator(_GENERATED_SCHEMA)
    for _ in range(3000):
        obj = {name: _any_json_value(rng) for name in list(_GENERATED_SCHEMA["properties"])[:8]}
        record = msgspec.json.decode(msgspec.json.encode(typer(obj)))  # as a target reads it
        validator.validate(record)
        for name, value in obj.items():
            typed, kept = record[name], record.get(UNPARSED, {}).get(name)
            if value is None or value == "":
                assert typed is None and kept is None, name
            elif typed is None:  # not typed: kept as text, never dropped
                assert kept is not None, (name, value)
            elif name in ("count", "amount") and not isinstance(value, str):
                assert typed == value, (name, value)  # a number is never rounded on the way
            elif name == "text" and isinstance(value, bool):
                assert typed == ("true" if value else "false")  # JSON's text, not Python's


@pytest.mark.parametrize(
    ("value", "count"), [(None, None), (0, 0), (43, 43), ("43", 43), (" 7 ", 7)]
)
def test_a_count_is_a_non_negative_integer_or_its_digits(value, count):
    assert parse_count(value) == count


@pytest.mark.parametrize(
    "value", [-1, "-1", 4.0, 4.5, "4.0", "", " ", "+5", "1_000", "٣", True, [3]]
)
def test_anything_else_is_no_count(value):
    # parse_integer takes most of these; a count Branch checks rows against must not.
    with pytest.raises(ValueError):
        parse_count(value)


@pytest.mark.parametrize(
    ("value", "number"),
    [
        ("407", 407),
        (" -3 ", -3),
        ("98765432109876543210", 98765432109876543210),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        (7, 7),
        (2.5, 2.5),
    ],
)
def test_the_text_of_an_integer_keeps_being_an_integer(value, number):
    parsed = parse_number_keeping_integers(value)
    assert parsed == number and type(parsed) is type(number)


@pytest.mark.parametrize("value", ["nan", "inf", "", "abc", True])
def test_numbers_keeping_integers_refuse_what_parse_number_refuses(value):
    with pytest.raises(ValueError):
        parse_number_keeping_integers(value)


class _CollectedWithPythonCode:
    """Garbage whose collection runs Python code: the interpreter may then switch threads in
    the middle of building an AST, as it did in the typing threads."""

    def __init__(self) -> None:
        self.cycle = self

    def __del__(self) -> None:
        sum(range(3))


def test_python_list_literals_parse_on_threads_at_once():
    """CPython keeps one AST recursion counter for all threads (python/cpython#106905): two
    `ast.literal_eval` at once failed now and then with SystemError, which ended a run whose
    two typing threads read tags cells. Switching threads as often as the interpreter can,
    this failed within a few thousand parses before the lock."""
    cell = "[" + ", ".join(repr(f"tag{number}") for number in range(50)) + "]"
    failures: list[BaseException] = []

    def parse_many() -> None:
        try:
            for _ in range(2000):
                _CollectedWithPythonCode()
                assert len(parse_python_text_list(cell)) == 50
        except BaseException as exc:  # noqa: BLE001 - reported by the test's thread
            failures.append(exc)

    interval, thresholds = sys.getswitchinterval(), gc.get_threshold()
    sys.setswitchinterval(1e-6)
    gc.set_threshold(10, 1, 1)
    try:
        threads = [threading.Thread(target=parse_many) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
        gc.set_threshold(*thresholds)
    assert failures == []
