"""One CSV export file as items: download, gunzip, check, type, for every family that reads
csv.gz files (daily v1, Daily Exports v3, scheduled export rows).

The reader (`FileReader.items`) downloads the file with its retries, gunzips and checks it;
here its rows are typed. Where the stream's records may be written as built JSON
(`deselected` not None) the file is read in batches of string columns (pyarrow,
`csv_batches`) typed a column at a time (`ColumnarTyper`), else row by row (`csv_rows`,
`RowTyper`). Both give the same records for the same file.

What pyarrow cannot read to the end (`RowPathNeeded`) goes on with the row path after the
rows already given, here and only here: the file is downloaded once more (a streamed body
cannot be rewound without holding all of it), through the same reader. The switch lives in
this module rather than inside the reader because the two paths differ in more than their
parser (the header read again, blank lines, row numbers, another typer): the reader stays
"bytes to parsed items, each once", and nothing calls back into the stream.
"""

from __future__ import annotations

import functools
import itertools
import logging
import typing as t

import pyarrow as pa

from tap_branch.files.csv_batches import RowPathNeeded, csv_batches
from tap_branch.files.downloads import csv_rows
from tap_branch.records.columnar import encode
from tap_branch.records.columnar.typer import ColumnarTyper, raw_millis_copies, typed_ahead
from tap_branch.records.items import RowBatch
from tap_branch.records.schemas.ontology import RawMillis
from tap_branch.records.typers import RowTyper, Warnings

if t.TYPE_CHECKING:
    from tap_branch.files.downloads import FileReader
    from tap_branch.records.route import Route

#: The column of row numbers added after a batch's own (`FileSource.number_rows`).
_ROW_NUMBER_COLUMN = "\x00row_number"


class FileSource(t.NamedTuple):
    """One CSV file of a stream, and what its records carry.

    `label`: the file in logs and errors (stream, day or job, URL without query).
    `constants`: fields every record of the file carries (its keys, the day). `schema_for`:
    the schema that types a file with this header (the stream's, or one cut to the file's
    columns). Raw epoch-ms copies (`RawMillis`) follow from that schema: a `*_ms` field it
    declares beside an epoch-ms column. `key_columns`: columns the header must name and no row
    may leave empty. `refresh`: a fresh signed URL of the file after a 403. `number_rows`:
    each record gets `row_number`, its row's position among the file's rows (1 = first, blank
    lines not counted), across the switch to the row path too."""

    url: str
    label: str
    constants: t.Mapping[str, t.Any]
    schema_for: t.Callable[[t.Sequence[str]], dict]
    key_columns: t.Sequence[str] = ()
    refresh: t.Callable[[], str] | None = None
    number_rows: bool = False


def csv_items(
    reader: FileReader,
    source: FileSource,
    *,
    deselected: t.Collection[str] | None,
    route: Route,
    warnings: Warnings,
    logger: logging.Logger,
) -> t.Iterator[dict | RowBatch]:
    """The typed records of the file: batches of rows (`RowBatch`, lines with the route's
    affixes) where `deselected` (the properties the catalog leaves out) is not None, else one
    dict a row; after `RowPathNeeded`, dicts of the rows after those given.

    `warnings`: the stream's, so each problem of its files is logged once a run."""
    if deselected is None:
        yield from _row_records(reader, source, warnings, logger)
        return
    latest = [source.url]  # the row path reads on from the URL a 403 last gave
    if source.refresh is not None:
        refresh = source.refresh

        def refreshed() -> str:
            latest[0] = refresh()
            return latest[0]

        source = source._replace(refresh=refreshed)
    given = 0
    try:
        for batch in _typed_batches(reader, source, deselected, route, warnings, logger):
            yield batch
            given += batch.count
        return
    except RowPathNeeded as exc:
        logger.info("%s: %s; reading on row by row after row %d.", source.label, exc, given)
    yield from _row_records(reader, source._replace(url=latest[0]), warnings, logger, skip=given)


def _typed_batches(
    reader: FileReader,
    source: FileSource,
    deselected: t.Collection[str],
    route: Route,
    warnings: Warnings,
    logger: logging.Logger,
) -> t.Iterator[RowBatch]:
    pace = route.pace
    batches: t.Iterator[pa.RecordBatch] = reader.items(
        source.url,
        functools.partial(csv_batches, key_columns=source.key_columns, pace=pace),
        refresh=source.refresh,
        size=len,
        source=source.label,
    )
    if source.number_rows:
        batches = _numbered(batches)

    def typer_for(first: pa.RecordBatch) -> ColumnarTyper:
        header = first.schema.names[:-1] if source.number_rows else first.schema.names
        schema = source.schema_for(header)
        copies = raw_millis_copies(schema, header)
        if source.number_rows:
            copies["row_number"] = (len(header), encode.integer)
        return ColumnarTyper(
            schema,
            header,
            source=source.label,
            constants=source.constants,
            logger=logger,
            warned=warnings.warned,
            deselected=deselected,
            copies=copies,
        )

    yield from typed_ahead(
        batches, typer_for, lambda: route.affixes(reader.stream), pace.typed_ahead
    )


def _numbered(batches: t.Iterable[pa.RecordBatch]) -> t.Iterator[pa.RecordBatch]:
    """Each batch with a column of its rows' numbers, in the file's order."""
    first = 1
    for batch in batches:
        numbers = pa.array(range(first, first + batch.num_rows)).cast(pa.string())
        first += batch.num_rows
        yield batch.append_column(_ROW_NUMBER_COLUMN, numbers)


def _row_records(
    reader: FileReader,
    source: FileSource,
    warnings: Warnings,
    logger: logging.Logger,
    skip: int = 0,
) -> t.Iterator[dict]:
    """The file's records one row at a time, after `skip` rows (read and numbered, not typed)."""
    rows = reader.items(
        source.url,
        functools.partial(csv_rows, key_columns=source.key_columns),
        refresh=source.refresh,
        source=source.label,
    )
    header = next(rows, None)
    if header is None:
        return
    schema = source.schema_for(header)
    typer = RowTyper(
        schema,
        header,
        source=source.label,
        constants=source.constants,
        logger=logger,
        warned=warnings.warned,
    )
    millis = RawMillis(schema, header)
    cells_of_rows = itertools.islice(filter(None, rows), skip, None)  # blank lines: no rows
    if not source.number_rows:
        if millis:
            yield from (millis.from_cells(typer(cells), cells) for cells in cells_of_rows)
        else:
            yield from map(typer, cells_of_rows)
        return
    for number, cells in enumerate(cells_of_rows, skip + 1):
        record = typer(cells)
        if millis:
            millis.from_cells(record, cells)
        record["row_number"] = number
        yield record
