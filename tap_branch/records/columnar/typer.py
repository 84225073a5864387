"""Typed records of a CSV file's batches, as JSON text built column by column.

`ColumnarTyper` is `tap_branch.records.typers.RowTyper` for whole batches: the same schema
decides each column's type, a file's header decides the columns, and every record has
the same keys, in the same order, with the same values (a test compares the two paths
record for record). Instead of a dict per row it returns one pyarrow string array: the
JSON object of each record, which the callers wrap into RECORD lines or write into
BATCH files without a Python object per row or per cell.
"""

from __future__ import annotations

import collections
import concurrent.futures
import logging
import typing as t

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from tap_branch.records import typers as rows
from tap_branch.records.columnar import encode
from tap_branch.records.items import RowBatch
from tap_branch.records.schemas.ontology import RawMillis

_ENCODERS: dict[t.Any, encode.Encoder] = {
    rows.parse_datetime: encode.date_time,
    rows.parse_integer: encode.integer,
    rows.parse_number: encode.number,
    rows.parse_boolean: encode.boolean,
}


#: Encoders of one column, and their version for several columns of a batch typed as one.
_TOGETHER: dict[encode.Encoder, t.Callable[[list[pa.Array]], list[encode.Encoded]]] = {
    encode.date_time: encode.date_times,
    encode.text: encode.texts,
}


def encoder_for(prop: dict) -> encode.Encoder:
    """The column encoder giving what `tap_branch.records.typers.converter_for(prop)` gives."""
    convert = rows.converter_for(prop)
    if convert is None or convert is rows.as_text:
        return encode.text
    if convert in _ENCODERS:
        return _ENCODERS[convert]
    return encode.json_of(convert)


#: Batches typed at once beside the main thread (pyarrow's compute calls release the GIL).
_TYPING_THREADS = 2


Affixes = t.Callable[[], tuple[str, str]]


def typed_ahead(
    batches: t.Iterable[pa.RecordBatch],
    typer_for: t.Callable[[pa.RecordBatch], ColumnarTyper],
    affixes: Affixes,
    ahead: int,
) -> t.Iterator[RowBatch]:
    """The batches with their records' lines built on helper threads, in the batches' order,
    while the next batches are read; `affixes()`, called as each batch is handed to a thread,
    gives the text around each of its records; `ahead` batches may wait typed (their memory
    is most of what is in flight). Batches read before the reading stops (an
    error, or `RowPathNeeded`) are still given, then the error is raised."""
    pending: collections.deque[RowBatch] = collections.deque()
    with concurrent.futures.ThreadPoolExecutor(_TYPING_THREADS, "tap-branch-typing") as pool:
        typer = None
        try:
            for batch in batches:
                typer = typer or typer_for(batch)
                around = affixes()
                typed = pool.submit(typer.lines, batch, *around)
                pending.append(RowBatch(typer, batch, typed, around))
                if len(pending) > ahead:
                    yield pending.popleft()
        except GeneratorExit:
            raise
        except BaseException:
            # The caller counts what it was given: the batches read before the error too.
            while pending:
                yield pending.popleft()
            raise
        while pending:
            yield pending.popleft()


def raw_millis_copies(
    schema: dict, header: t.Sequence[str]
) -> dict[str, tuple[int, encode.Encoder]]:
    """`ColumnarTyper`'s `copies` for Branch's epoch-ms numbers beside their date-times
    (`RawMillis`, which the row path applies to each typed row)."""
    return {
        field: (index, encode.raw_millis) for index, field in RawMillis(schema, header).columns()
    }


def _key(name: str) -> str:
    return msgspec.json.encode(name).decode() + ":"


class ColumnarTyper:
    """Turns the batches of one file (string columns, in `header` order) into record JSON.

    `deselected`: top-level properties the catalog leaves out; they are not written.
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
        deselected: t.Collection[str] = (),
        copies: t.Mapping[str, tuple[int, encode.Encoder]] | None = None,
    ) -> None:
        """`copies`: fields filled from a batch column with another encoder than their own
        (Daily Exports v3's raw `*_ms` numbers beside their date-times; a column the caller
        adds after the header's, like scheduled exports' row numbers), where the row path
        sets them after typing the row. A file column named like a constant is kept in
        `extra_columns`, as on the row path."""
        # Which columns are typed, plain or extra, and the problems already logged: the same
        # as the row path's (`FileColumns`, `Warnings`), one source of those rules.
        self.columns = columns = rows.FileColumns.of(schema, header, constants)
        self.source = source
        self.warnings = rows.Warnings(logger or logging.getLogger(rows.__name__), warned)
        self.warnings.extra_columns(source, [column for _, column in columns.extra])
        properties = schema["properties"]
        self._deselected = frozenset(deselected)
        template = columns.template
        #: (key, literal JSON text or None, column index or None) in the row path's key order:
        #: missing documented columns (null) and the constants as literals, then the file's.
        self._fields: list[tuple[str, str | None, int | None]] = [
            (name, msgspec.json.encode(value).decode(), None) for name, value in template.items()
        ]
        self._fields += [(column, None, index) for index, column in columns.plain]
        self._fields += [(column, None, index) for index, column, _ in columns.typed]
        self._fields = [field for field in self._fields if field[0] not in self._deselected]
        copies = dict(copies or {})
        self._fields = [
            (name, None, copies[name][0]) if name in copies else (name, literal, index)
            for name, literal, index in self._fields
        ]
        self._fields += [
            (name, None, index)
            for name, (index, _) in copies.items()
            if name not in template and name not in self._deselected
        ]
        #: `"name":` of each field, after a comma but for the first.
        self._keys = [
            ("," if position else "") + _key(name)
            for position, (name, _, _) in enumerate(self._fields)
        ]
        #: The encoder of each field read from the file, in `_fields` order.
        self._encoders = {
            name: copies[name][1] if name in copies else encoder_for(properties[name])
            for name, literal, index in self._fields
            if index is not None
        }
        #: The fields read from the file whose columns are typed together, by the encoder
        #: of several columns at once (`_TOGETHER`).
        self._together = [
            (
                together,
                [
                    (name, index)
                    for name, _, index in self._fields
                    if index is not None and self._encoders[name] is alone
                ],
            )
            for alone, together in _TOGETHER.items()
        ]
        self._literals = Literals()
        self._keep_unparsed = rows.UNPARSED not in self._deselected
        #: Deselected typed columns still typed for `unparsed_cells`, as the row path does
        #: (the SDK pops deselected fields from records the row path typed whole).
        self._unparsed_only = [
            (column, index, encoder_for(properties[column]))
            for index, column, _ in columns.typed
            if column in self._deselected and self._keep_unparsed
        ]
        self._keep_extra = rows.EXTRA not in self._deselected and bool(columns.extra)

    def lines(self, batch: pa.RecordBatch, before: str, after: str) -> pa.Array:
        """`before` + the JSON object of every row of `batch` + `after`, as a string array,
        in one pass over the rows (the affixes are pieces of the same join)."""
        pieces: list[encode.Piece] = ["{"]
        unparsed_by_column: list[tuple[str, dict[int, str]]] = []
        together: dict[str, encode.Encoded] = {}
        for encoder, fields in self._together:
            typed = encoder([batch.column(index) for _, index in fields])
            together.update(zip((name for name, _ in fields), typed, strict=True))
        for (name, value, index), key in zip(self._fields, self._keys, strict=True):
            pieces.append(key)
            if index is None:
                pieces.append(value)
                continue
            if name in together:
                encoded = together[name]
            else:
                encoded = self._encoders[name](batch.column(index))
            pieces.extend(encoded.pieces)
            if encoded.unparsed:
                unparsed_by_column.append((name, encoded.unparsed))
        for name, index, encoder in self._unparsed_only:
            unparsed = encoder(batch.column(index)).unparsed
            if unparsed:
                unparsed_by_column.append((name, unparsed))
        tail = self._tail(batch, unparsed_by_column)
        if tail is not None:
            pieces.append(tail)
        pieces.append("}")
        return self._literals.join(pieces, batch.num_rows, before, after)

    def _tail(
        self, batch: pa.RecordBatch, unparsed_by_column: list[tuple[str, dict[int, str]]]
    ) -> pa.Array | None:
        """`,"unparsed_cells":{...},"extra_columns":{...}` for the rows that have some, else "".

        Rare (a bad cell, a column the schema lacks), so built per row in Python."""
        tails: dict[int, str] = {}
        comma = "," if self._fields else ""  # a record of only these fields has no comma before
        if self._keep_unparsed and unparsed_by_column:
            # Typed columns in header order, as the row path adds them.
            order = {column: position for position, (_, column, _) in enumerate(self.columns.typed)}
            by_row: dict[int, dict[str, str]] = {}
            for name, cells in sorted(unparsed_by_column, key=lambda item: order.get(item[0], 0)):
                for row, raw in cells.items():
                    by_row.setdefault(row, {})[name] = raw
            for row, cells in by_row.items():
                tails[row] = comma + _key(rows.UNPARSED) + msgspec.json.encode(cells).decode()
        for name, cells in unparsed_by_column:
            for raw in cells.values():
                self.warnings.cell_once(self.source, name, raw)
                break
        if self._keep_extra:
            columns = [(column, batch.column(index)) for index, column in self.columns.extra]
            values = [cells.to_pylist() for _, cells in columns]
            names = [column for column, _ in columns]
            for row, cells in enumerate(zip(*values, strict=True)):
                extra = {name: cell for name, cell in zip(names, cells, strict=True) if cell != ""}
                if extra:
                    before = tails[row] + "," if row in tails else comma
                    tails[row] = before + _key(rows.EXTRA) + msgspec.json.encode(extra).decode()
        if not tails:
            return None
        return pa.array([tails.get(row, "") for row in range(batch.num_rows)], pa.string())


#: Made once: pyarrow converts a Python str argument anew on each call (~10 us).
_NO_SEPARATOR = pa.scalar("", pa.string())


class Literals:
    """Concatenates pieces row by row: texts the same on every row, and arrays.

    pyarrow's element-wise join is about twice as fast over arrays as over constant
    scalars, so each constant text becomes an array once, sliced to each batch's length.
    The texts are a file's keys and constants: a few dozen per typer."""

    def __init__(self) -> None:
        self._arrays: dict[str, pa.Array] = {}

    def join(
        self, pieces: t.Sequence[encode.Piece], rows_count: int, before: str = "", after: str = ""
    ) -> pa.Array:
        """The pieces concatenated row by row, between `before` and `after`: texts that change
        from batch to batch (a RECORD message's time_extracted), so never kept as arrays."""
        merged: list[encode.Piece] = []
        for piece in pieces:
            if isinstance(piece, str) and merged and isinstance(merged[-1], str):
                merged[-1] += piece
            elif not (isinstance(piece, str) and piece == ""):
                merged.append(piece)
        arrays = [
            self._constant(piece, rows_count) if isinstance(piece, str) else piece
            for piece in merged
        ]
        if before:
            arrays.insert(0, pa.scalar(before, pa.string()))
        if after:
            arrays.append(pa.scalar(after, pa.string()))
        if len(arrays) == 1:
            return arrays[0]
        return pc.binary_join_element_wise(*arrays, _NO_SEPARATOR)

    def _constant(self, text: str, rows_count: int) -> pa.Array:
        array = self._arrays.get(text)
        if array is None or len(array) < rows_count:
            # A file's batches hold about the same number of rows: sized to this one, the
            # arrays of a typer's few dozen texts stay a few MB.
            array = self._arrays[text] = pa.repeat(pa.scalar(text, pa.string()), rows_count)
        # Most batches are as long as the array: a slice is a new Python object each time.
        return array if len(array) == rows_count else array.slice(0, rows_count)
