"""Parquet BATCH files: one Arrow schema per stream, the same in every file, holding the
records the tap sends as RECORD messages (objects and arrays of objects as JSON text)."""

from __future__ import annotations

import datetime as dt
import json
import pathlib

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tap_branch.output.parquet import arrow_schema, arrow_type, table_of
from tap_branch.tap import TapBranch
from tests.support.sandbox import DAILY_STREAMS, days_back
from tests.support.tap_runner import run_tap

#: The daily families (columnar or row path) and a stream the SDK's batcher took before.
STREAMS = [*DAILY_STREAMS, "daily_eo_click", "credit_history"]


@pytest.fixture
def parquet_days(sandbox, base_config) -> dict:
    sandbox.options(
        daily_rows={"links": 40, "link_clicks": 70, "events": 90},
        daily_rows_per_file=30,
        daily_bad_cells=3,
        daily_extra_column="partner_field",
    )
    return {
        **base_config,
        "start_date": days_back(3)[0].isoformat(),
        "credit_identities": ["user-1", "user-2", "user-25"],
        "credit_history_page_size": 10,
    }


def test_json_schema_kinds_map_to_one_arrow_type_each():
    assert arrow_type({"type": ["string", "null"]}) == pa.string()
    assert arrow_type({"type": ["string", "null"], "format": "date-time"}) == pa.timestamp(
        "us", "UTC"
    )
    assert arrow_type({"type": "string", "format": "date"}) == pa.date32()
    assert arrow_type({"type": ["integer", "null"]}) == pa.int64()
    assert arrow_type({"type": ["number"]}) == pa.float64()
    assert arrow_type({"type": ["boolean", "null"]}) == pa.bool_()
    assert arrow_type({"type": ["array"], "items": {"type": ["string"]}}) == pa.list_(pa.string())
    objects = {"type": ["array"], "items": {"type": "object", "properties": {"id": {}}}}
    assert arrow_type(objects) == pa.list_(pa.json_())
    # Free-form objects, fields of several types, arrays without items: JSON text.
    for prop in (
        {"type": ["object", "null"]},
        {"type": ["integer", "string"]},
        {"type": "array"},
        {},
    ):
        assert arrow_type(prop) == pa.json_(), prop


@pytest.mark.parametrize("columnar", [True, False])
def test_parquet_files_hold_the_records_with_one_schema_per_stream(
    sandbox, parquet_days, tmp_path, columnar
):
    config = {**parquet_days, "columnar_files": columnar}
    plain = run_tap(config, select=STREAMS)
    batch_config = {
        "encoding": {"format": "parquet", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "p-"},
        "batch_size": 50,
    }
    run = run_tap({**config, "batch_config": batch_config}, select=STREAMS)
    assert run.error is None, run.logs[-3000:]
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    schemas = {m["stream"]: m["schema"] for m in run.messages if m["type"] == "SCHEMA"}
    for stream in STREAMS:
        expected = plain.records(stream)
        assert expected, f"{stream}: the sandbox served nothing to compare"
        batches = [m for m in run.messages if m["type"] == "BATCH" and m["stream"] == stream]
        assert batches and all(m["encoding"]["format"] == "parquet" for m in batches)
        files = [pathlib.Path(u.removeprefix("file://")) for m in batches for u in m["manifest"]]
        schema = arrow_schema(schemas[stream])
        rows: list[dict] = []
        for path in files:
            assert path.name.startswith("p-") and path.suffix == ".parquet"
            table = pq.read_table(path)
            assert table.schema.equals(schema), (stream, path)  # every file, the same schema
            assert 0 < table.num_rows <= 50
            rows.extend(table.to_pylist())
        assert len(rows) == len(expected), stream
        for got, want in zip(rows, expected, strict=True):
            assert _as_record(got, schema, want) == want, stream
    assert run.state == plain.state


def _as_record(row: dict, schema: pa.Schema, like: dict) -> dict:
    """A parquet row as the JSON record it was written from (fields `like` lacks must be null)."""
    record = {}
    for field in schema:
        value = row[field.name]
        if field.name not in like:
            assert value is None, field.name
            continue
        if value is not None and field.type == pa.json_():
            value = json.loads(value)
        elif value is not None and field.type == pa.list_(pa.json_()):
            value = [None if item is None else json.loads(item) for item in value]
        elif isinstance(value, dt.datetime):
            value = _same_instant_text(value, like[field.name])
        elif isinstance(value, dt.date):
            value = value.isoformat()
        record[field.name] = value
    return record


def _same_instant_text(value: dt.datetime, text: str) -> str:
    """`text` when it names the instant `value`, else `value`'s own text (so a difference shows)."""
    instant = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return text if instant == value else value.isoformat()


def test_a_json_field_keeps_its_exact_value_where_structs_would_not():
    # Rows with different keys, an empty object and a value whose type varies: the SDK's
    # batcher (one struct per file) cannot write these faithfully; JSON text can.
    schema = {"properties": {"data": {"type": ["object", "null"]}, "n": {"type": ["integer"]}}}
    records = [{"data": {"a": 1}, "n": 1}, {"data": {}, "n": 2}, {"data": {"a": "x", "b": [1]}, "n": 3}]  # fmt: skip
    table = table_of(records, arrow_schema(schema))
    assert [json.loads(v) for v in table.column("data").to_pylist()] == [r["data"] for r in records]


def test_list_columns_keep_null_and_empty_lists_apart():
    schema = {"properties": {"tags": {"type": ["array", "null"], "items": {"type": "string"}}}}
    records = [{"tags": ["a", "b"]}, {"tags": []}, {"tags": None}, {}, {"tags": ["c"]}]
    table = table_of(records, arrow_schema(schema))
    assert table.column("tags").to_pylist() == [["a", "b"], [], None, None, ["c"]]


def test_every_streams_schema_gives_an_arrow_schema():
    tap = TapBranch(config={"start_date": "2024-01-01"}, parse_env_config=False, validate_config=False)  # fmt: skip
    for stream in tap.streams.values():
        schema = arrow_schema(stream.schema)
        assert schema.names == list(stream.schema["properties"]), stream.name


def test_columnar_lines_give_the_table_their_dicts_give(monkeypatch):
    # Every kind of cell the columnar path types (bad cells, extra columns, objects, arrays),
    # read by pyarrow's JSON reader and msgspec's raw fields: the table the dicts give.
    from tap_branch.output import parquet
    from tap_branch.streams.daily.v1 import EventsStream
    from tests.unit.records.test_columnar import HEADER, _columnar, _csv, _rows

    records = _columnar(EventsStream.schema, _csv(HEADER, _rows(500)), 1 << 20)
    assert any("unparsed_cells" in r for r in records) and any(
        "extra_columns" in r for r in records
    )
    tables = parquet.Tables(arrow_schema(EventsStream.schema))
    expected = tables.of_records(records)
    lines = b"".join(msgspec.json.encode(r) + b"\n" for r in records)
    monkeypatch.setattr(parquet, "table_of", None)  # the fast path, not the dicts' fallback
    got = tables.of_lines(memoryview(lines))
    assert got.equals(expected)


def test_a_form_pyarrows_reader_does_not_take_falls_back_to_the_same_table():
    from tap_branch.output import parquet

    schema = {"properties": {"at": {"type": ["string", "null"], "format": "date-time"}, "o": {}}}
    records = [{"at": "2024-01-02 03:04:05+00:00", "o": {"a": 1}}, {"at": None, "o": None}]
    tables = parquet.Tables(arrow_schema(schema))
    lines = b"".join(msgspec.json.encode(r) + b"\n" for r in records)
    assert tables.of_lines(lines).equals(tables.of_records(records))
    assert tables.of_lines(lines).column("at").to_pylist()[0] == dt.datetime(
        2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc
    )


@pytest.mark.parametrize("path", ["records", "lines"])
def test_an_integer_beyond_int64_fails_naming_the_field_and_the_way_out(path):
    # JSON schema's integers are unbounded, and the tap types "99999999999999999999" as one;
    # parquet's int64 column cannot hold it: a clear error, never a bare OverflowError.
    from tap_branch.output import parquet

    schema = {"properties": {"id": {"type": ["integer", "null"]}, "o": {}}}
    records = [{"id": 1, "o": {}}, {"id": 99999999999999999999, "o": None}]
    tables = parquet.Tables(arrow_schema(schema))
    lines = b"".join(msgspec.json.encode(r) + b"\n" for r in records)
    with pytest.raises(parquet.ParquetRangeError, match=r"'id' holds the integer 9{20}.*jsonl"):
        tables.of_records(records) if path == "records" else tables.of_lines(lines)


def test_a_number_field_holding_an_integer_beyond_int64_is_written_as_a_double():
    # The tap keeps a number column's integers exact ("12345678901234567891" stays an int);
    # pyarrow converts ints through int64 even into a float64 column, and failed.
    schema = {"properties": {"amount": {"type": ["number", "null"]}}}
    records = [{"amount": 1.5}, {"amount": 12345678901234567891}, {"amount": None}]
    table = table_of(records, arrow_schema(schema))
    assert table.column("amount").to_pylist() == [1.5, 12345678901234567891.0, None]
