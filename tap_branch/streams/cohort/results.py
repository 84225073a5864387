"""Reading a cohort job's result file into long-format, typed records.

Branch answers one row per (cohort date, dimension values, measure, per_user,
cumulative) with its bands side by side: in JSON a `data` object
(`{"day0": "12.5", "day1": 3}`, values as strings or numbers), in CSV one column
per band after `measure, metric, per_user, cumulative, users, cost, <dimensions>`.
The docs' CSV says `user` in one place and `users` in another, and their sample
has no `cost`: both spellings are read and a missing cost is null.

Each row becomes one record per band, so a warehouse can query any band without
knowing the report's band count, and the primary key stays the same when a
report's band count changes.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_branch.typing import EXTRA, UNPARSED, as_text, parse_boolean, parse_integer, parse_number

if t.TYPE_CHECKING:
    from tap_branch.streams.cohort.reports import CohortReport

_BAND = re.compile(r"^(day|week|month)_?(\d+)$")
_CONVERTERS: dict[str, t.Callable[[t.Any], t.Any]] = {
    "measure": as_text,
    "metric": as_text,
    "per_user": parse_boolean,
    "cumulative": parse_boolean,
    "users": parse_integer,
    "cost": parse_number,
}
_ALIASES = {"user": "users"}
_CHUNK = 1 << 16


def json_array_items(body: t.IO[bytes]) -> t.Iterator[dict]:
    """The objects of a JSON array, one at a time, without reading the file whole.

    Branch's JSON result is one array, possibly pretty-printed over many lines, so
    the newline-delimited reader does not fit. Also reads newline-delimited objects.
    """
    decoder = json.JSONDecoder()
    text = io.TextIOWrapper(body, encoding="utf-8-sig")
    buffer, position, exhausted = "", 0, False
    while True:
        # Skip what separates objects: whitespace, the array's brackets and commas.
        while position < len(buffer) and buffer[position] in " \t\r\n[],":
            position += 1
        try:
            if position >= len(buffer):
                raise json.JSONDecodeError("need more", buffer, position)
            # A row is an object: once it decodes, its closing brace has been read.
            item, position = decoder.raw_decode(buffer, position)
        except json.JSONDecodeError:
            if exhausted:
                if position >= len(buffer):
                    return
                raise ValueError(
                    f"the JSON result ends inside a row near {buffer[position : position + 40]!r}"
                ) from None
            chunk = text.read(_CHUNK)
            buffer, position, exhausted = buffer[position:] + chunk, 0, not chunk
            continue
        if not isinstance(item, dict):
            raise ValueError(
                f"the JSON result holds a {type(item).__name__} where a row object belongs"
            )
        yield item


def csv_dicts(body: t.IO[bytes]) -> t.Iterator[dict]:
    """CSV rows as {header: cell} dicts; empty cells are left out (null)."""
    reader = csv.reader(io.TextIOWrapper(body, encoding="utf-8-sig", newline=""))
    header = next(reader, None)
    if header is None:
        return
    header = [column.strip() for column in header]
    for cells in reader:
        if cells:
            yield {column: cell for column, cell in zip(header, cells, strict=False) if cell != ""}


class RowExpander:
    """Turns one result row into its per-band records, typed; nothing is dropped silently.

    A cell that does not parse is null and kept as text in `unparsed_cells`; a column
    the report did not ask for is kept in `extra_columns`.
    """

    def __init__(self, report: CohortReport, constants: t.Mapping[str, t.Any], source: str) -> None:
        self.report = report
        self.constants = dict(constants)
        self.source = source
        self.date_dimension = report.date_dimension
        self.dimensions = frozenset(report.dimensions)

    def __call__(self, row: t.Mapping[str, t.Any]) -> list[dict]:
        base: dict[str, t.Any] = {**self.constants, "cohort_date": None}
        for dimension in self.report.dimensions:
            base[dimension] = None
        for field in _CONVERTERS:
            base[field] = None
        unparsed: dict[str, str] = {}
        extra: dict[str, str] = {}
        bands: list[tuple[str, int, t.Any]] = []
        for key, value in row.items():
            if key == "data" and isinstance(value, t.Mapping):
                for band_key, band_value in value.items():
                    self._band(band_key, band_value, bands, extra)
            elif key == self.date_dimension:
                base["cohort_date"] = _date(value)
                if base["cohort_date"] is None:
                    unparsed[key] = as_text(value)
            elif key in self.dimensions:
                base[key] = None if value is None or value == "" else as_text(value)
            elif _ALIASES.get(key, key) in _CONVERTERS:
                field = _ALIASES.get(key, key)
                if value is None or value == "":
                    continue
                try:
                    base[field] = _CONVERTERS[field](value)
                except (TypeError, ValueError):
                    unparsed[field] = as_text(value)
            elif value is not None:
                self._band(key, value, bands, extra)
        if base["cohort_date"] is None:
            raise self._no_date(row)
        if extra:  # the catch-all keys only when they hold something
            base[EXTRA] = extra
        records = []
        for unit, index, raw in bands:
            record = dict(base, band=index, band_unit=unit, value=None)
            if raw is not None and raw != "":
                try:
                    record["value"] = _number(raw)
                except (TypeError, ValueError):
                    record[UNPARSED] = {**unparsed, "value": as_text(raw)}
            if unparsed and UNPARSED not in record:
                record[UNPARSED] = dict(unparsed)
            records.append(record)
        return records

    def check(self, row: t.Mapping[str, t.Any]) -> None:
        """Raise for a row the tap cannot key, as expanding it would (to fail before a
        file's first record is emitted)."""
        if _date(row.get(self.date_dimension)) is None:
            raise self._no_date(row)

    def _no_date(self, row: t.Mapping[str, t.Any]) -> FatalAPIError:
        found = row.get(self.date_dimension)
        shown = "missing" if found in (None, "") else repr(str(found)[:40])
        return FatalAPIError(
            f"{self.source}: a row has no cohort date ({self.date_dimension}: {shown}); "
            f"the tap cannot key it. Row fields: {', '.join(sorted(row))}"
        )

    @staticmethod
    def _band(key: str, value: t.Any, bands: list, extra: dict) -> None:
        band = _band_of(key)
        if band is not None:
            bands.append((*band, value))
        elif value is not None:
            extra[key] = as_text(value)


@functools.lru_cache(maxsize=1024)
def _band_of(key: str) -> tuple[str, int] | None:
    """(unit, index) of a band's key ("day3", "week_2"), None for another key. Cached: every
    row of a result has the same few keys, and this ran for every band of every row."""
    match = _BAND.match(key)
    return (match.group(1), int(match.group(2))) if match else None


def _number(raw: t.Any) -> int | float:
    """A band value; "407" stays an integer, so CSV and JSON results give the same records."""
    if isinstance(raw, str):
        try:
            return int(raw)
        except ValueError:
            return parse_number(raw)
    return parse_number(raw)


def _date(value: t.Any) -> str | None:
    """A cohort day as YYYY-MM-DD (Branch may add a time part); None unless it is a real day
    (part of the primary key, and a `date` in the schema)."""
    text = as_text(value).strip() if value is not None else ""
    if not re.match(r"^\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        dt.date.fromisoformat(text[:10])
    except ValueError:
        return None
    return text[:10]
