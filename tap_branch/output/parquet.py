"""Parquet BATCH files: one Arrow schema per stream, derived from its JSON schema.

Every file of a stream has the same schema, whatever its records hold (the SDK's parquet
batcher infers one per file from the records: an object column then gains the keys other
rows have, an empty object cannot be written, and a value whose type varies fails):

- strings, integers (int64), numbers (float64) and booleans are typed columns;
- `date-time` strings are `timestamp[us, UTC]` and `date` strings `date32`;
- arrays are lists of their items' type (`tags`: `list<string>`, `content_items`:
  `list<json>`), so a reader gets a list, as from a RECORD message;
- objects and fields of several types are JSON text, in Arrow's JSON type (Parquet's
  JSON logical type), one JSON document per cell (or per item).

Why JSON text and not structs: Branch's objects (`data`, `*_link_data`, `*_query_params`,
`custom_data`, ...) are free-form; their schemas fix no keys. A struct column has a fixed set
of fields, so a free-form object would come back with every other row's keys as nulls, or
not fit at all; the text keeps each object exactly as the tap sent it. Parquet readers that
know the JSON logical type (DuckDB, Spark, BigQuery, Snowflake) read these columns as JSON.
The Singer SDK's batch reader (`Sink.process_batch_files`, singer-sdk 0.54) hands a target
the cell as text, so a target built on it receives the JSON text of these fields (docs/getting-started/postgresql.md).
"""

from __future__ import annotations

import datetime as dt
import itertools
import typing as t

import msgspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from tap_branch.records.typers import types_of

_SCALARS = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
}
_FORMATS = {"date-time": pa.timestamp("us", "UTC"), "date": pa.date32()}
#: The parquet codec for `batch_config.encoding.compression` (the SDK allows gzip or none):
#: without compression, parquet's default codec, snappy, as the SDK's batcher writes.
_CODECS = {"gzip": "gzip"}
_JSON = pa.json_()
_ENCODE = msgspec.json.Encoder().encode


def arrow_type(prop: dict) -> pa.DataType:
    """The Arrow type of a JSON schema property (see the module's docstring)."""
    types = [kind for kind in dict.fromkeys(types_of(prop)) if kind != "null"]
    if len(types) != 1:
        return _JSON
    kind = types[0]
    if kind == "string":
        return _FORMATS.get(prop.get("format"), pa.string())
    if kind in _SCALARS:
        return _SCALARS[kind]
    if kind == "array" and isinstance(prop.get("items"), dict):
        return pa.list_(arrow_type(prop["items"]))
    return _JSON


def arrow_schema(json_schema: dict, deselected: t.Collection[str] = ()) -> pa.Schema:
    """The stream's Arrow schema: its top-level properties but the deselected, in order."""
    return pa.schema(
        pa.field(name, arrow_type(prop))
        for name, prop in json_schema["properties"].items()
        if name not in deselected
    )


class Tables:
    """Tables of one stream's Arrow schema, from records as dicts (the row path) or as JSON
    lines (the columnar path's batches, `tables_of_lines`)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        json_fields = [f for f in schema if f.type in (_JSON, pa.list_(_JSON))]
        #: Read by pyarrow's JSON reader, in C++: every field but the JSON text ones.
        self._typed = pa.schema(f for f in schema if f not in json_fields)
        #: The JSON text fields' raw text, cut out of each line by msgspec (no Python objects
        #: for what they hold): `Raw` for an object, a list of `Raw` for an array's items.
        raw = [
            (f.name, msgspec.Raw if f.type == _JSON else (list[msgspec.Raw] | None), None)
            for f in json_fields
        ]
        self._raw = msgspec.json.Decoder(msgspec.defstruct("RawFields", raw))
        self._json_fields = json_fields

    def of_records(self, records: t.Sequence[dict]) -> pa.Table:
        return table_of(records, self.schema)

    def of_lines(self, lines: memoryview | bytes) -> pa.Table:
        """The records of JSON `lines` (one object per line). A value pyarrow's reader does
        not take as its field's type (a date-time form it does not parse) sends the lines
        through the dicts instead: the same table, slower."""
        try:
            typed = pa_json.read_json(
                pa.BufferReader(pa.py_buffer(lines)),
                read_options=pa_json.ReadOptions(use_threads=False, block_size=_BLOCK),
                parse_options=pa_json.ParseOptions(
                    explicit_schema=self._typed, unexpected_field_behavior="ignore"
                ),
            )
        except pa.ArrowInvalid:
            return table_of(_LINES.decode_lines(lines), self.schema)
        raws = self._raw.decode_lines(lines)
        columns = {}
        for field in self._json_fields:
            values = [getattr(raw, field.name) for raw in raws]
            if field.type == _JSON:
                texts = _nulls_out(pa.array([_text(v) for v in values], pa.string()))
                columns[field.name] = pa.ExtensionArray.from_storage(_JSON, texts)
            else:
                items = [None if v is None else [_text(i) for i in v] for v in values]
                columns[field.name] = _column_of_texts(items)
        arrays = [
            columns[f.name]
            if f.name in columns
            else typed.column(f.name)
            if f.name in typed.column_names
            else pa.nulls(typed.num_rows, f.type)
            for f in self.schema
        ]
        return pa.Table.from_arrays(arrays, schema=self.schema)


_LINES = msgspec.json.Decoder(dict)
#: The JSON reader's block: a line must fit in one (a longer one takes the dicts' way).
#: 1 MB blocks read ~1.6x faster than one block of a whole batch (measured).
_BLOCK = 1 << 20


def _text(raw: msgspec.Raw | None) -> str | None:
    """A field's JSON text ("null" for a JSON null: `_nulls_out`), None where it is missing."""
    return None if raw is None else bytes(raw).decode()


def _nulls_out(texts: pa.Array) -> pa.Array:
    """JSON nulls as nulls, as `table_of` writes them."""
    return pc.if_else(pc.equal(texts, "null"), pa.scalar(None, pa.string()), texts)


def _column_of_texts(lists: list[list[str | None] | None]) -> pa.Array:
    lengths = [0 if value is None else len(value) for value in lists]
    items = _nulls_out(
        pa.array([item for value in lists if value is not None for item in value], pa.string())
    )
    offsets = pa.array([0, *itertools.accumulate(lengths)], pa.int32())
    mask = pa.array([value is None for value in lists], pa.bool_())
    return pa.ListArray.from_arrays(
        offsets, pa.ExtensionArray.from_storage(_JSON, items), type=pa.list_(_JSON), mask=mask
    )


def table_of(records: t.Sequence[dict], schema: pa.Schema) -> pa.Table:
    """The records as a table of `schema`: a column at a time; a field a record lacks is null,
    a key the schema lacks (a deselected field) is left out."""
    return pa.Table.from_arrays(
        [_field_column([record.get(f.name) for record in records], f) for f in schema],
        schema=schema,
    )


def _field_column(values: list, field: pa.Field) -> pa.Array:
    try:
        return _column(values, field.type)
    except OverflowError:  # JSON schema's integers have no bound; parquet's int64 has
        too_large = next(v for v in _leaves(values) if isinstance(v, int) and v.bit_length() > 63)
        raise ParquetRangeError(
            f"field '{field.name}' holds the integer {too_large}, beyond the 64-bit integers of "
            "a parquet column; write this stream's batches as jsonl (batch_config.encoding."
            "format), which keeps every integer"
        ) from None


def _leaves(values: list) -> t.Iterator:
    for value in values:
        if isinstance(value, list):
            yield from _leaves(value)
        else:
            yield value


class ParquetRangeError(ValueError):
    """A value the stream's Arrow schema cannot hold (an integer beyond int64)."""


def _column(values: list, kind: pa.DataType) -> pa.Array:
    if kind == _JSON:
        texts = [None if value is None else _ENCODE(value).decode() for value in values]
        return pa.ExtensionArray.from_storage(_JSON, pa.array(texts, pa.string()))
    if pa.types.is_list(kind):
        lengths = [0 if value is None else len(value) for value in values]
        items = _column(
            [item for value in values if value is not None for item in value], kind.value_type
        )
        offsets = pa.array([0, *itertools.accumulate(lengths)], pa.int32())
        mask = pa.array([value is None for value in values], pa.bool_())
        return pa.ListArray.from_arrays(offsets, items, type=kind, mask=mask)
    if kind in _FORMATS.values():
        text = pa.array(values, pa.string())
        try:  # Arrow's ISO-8601 parser: the tap's own forms, in one call
            return pc.cast(text, kind)
        except pa.ArrowInvalid:  # any other form the schema's format allows, a cell at a time
            return pa.array([_parsed(value, kind) for value in values], kind)
    try:
        return pa.array(values, kind)
    except pa.ArrowInvalid:
        if kind != pa.float64():
            raise
        # A number column's integer beyond int64 (the tap keeps integers exact): pyarrow
        # converts ints through int64; as a double, as any JSON reader of doubles reads it.
        return pa.array([float(v) if isinstance(v, int) else v for v in values], kind)


def _parsed(value: str | None, kind: pa.DataType) -> dt.date | dt.datetime | None:
    if value is None:
        return None
    if pa.types.is_date32(kind):
        return dt.date.fromisoformat(value[:10])
    moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


class ParquetWriter:
    """One parquet file being written: a row group per `write` of a table of its schema."""

    def __init__(self, handle: t.BinaryIO, schema: pa.Schema, compression: str | None) -> None:
        codec = _CODECS.get(compression or "", "snappy")
        # gzip at level 1, as the jsonl files: the default level took 2x as long (measured).
        level = 1 if codec == "gzip" else None
        # Imported here: pyarrow's parquet module holds ~9 MB that runs without parquet
        # files (RECORD lines, JSON-lines batches) would carry for nothing.
        import pyarrow.parquet as pq

        self._writer = pq.ParquetWriter(handle, schema, compression=codec, compression_level=level)

    def write(self, table: pa.Table) -> None:
        self._writer.write_table(table)

    def close(self) -> None:
        self._writer.close()
