"""Reading a cohort job's result file into long-format, typed records.

Branch answers one row per (cohort date, dimension values, measure, per_user,
cumulative) with its bands side by side: in JSON a `data` object
(`{"day0": "12.5", "day1": 3}`, values as strings or numbers), in CSV one column
per band after `measure, metric, per_user, cumulative, users, cost, <dimensions>`.
The docs' CSV says `user` in one place and `users` in another, and their sample
has no `cost`: both spellings are read and a missing cost is null. Their JSON sample
gives a `*_touch_data_*` dimension under its `*_data_*` spelling
(`catalog.result_key_variants`): read as the dimension asked for.

Each row becomes one record per band, so a warehouse can query any band without
knowing the report's band count, and the primary key stays the same when a
report's band count changes.

What is not such a result is never read as one. A file that is not one whole JSON
array of objects (no closing `]`, blank), or a CSV without its header or with a line
of the wrong cell count, raises `UnexpectedContent`: the download is retried, then
fails naming the file. A row the tap cannot key or expand (no cohort date, no
measure, no band, `data` that is not an object, a dimension that came back under an
unknown key) fails naming the report, the job and the row: read on, it would vanish
or collapse onto another row's key.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_branch.files.checks import json_kind
from tap_branch.records.typers import (
    EXTRA,
    UNPARSED,
    as_text,
    parse_boolean,
    parse_integer,
    parse_number,
    parse_number_keeping_integers,
)
from tap_branch.streams.cohort.catalog import result_key_variants

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
#: Fields a row must have: without `measure`, the rows of a day's measures share one key.
REQUIRED = ("measure",)


class RowExpander:
    """Turns one result row into its per-band records, typed; nothing is dropped silently.

    A cell that does not parse is null and kept as text in `unparsed_cells`; a column
    the report did not ask for is kept in `extra_columns`. `check` refuses the rows that
    would lose data (see the module's docstring) before any record of their file is sent.
    """

    def __init__(self, report: CohortReport, constants: t.Mapping[str, t.Any], source: str) -> None:
        self.report = report
        self.constants = dict(constants)
        self.source = source
        self.date_dimension = report.date_dimension
        self.dimensions = frozenset(report.dimensions)
        #: Branch's other spellings of the dimensions asked for -> the dimension.
        self.variants = {v: d for d in report.dimensions for v in result_key_variants(d)}
        self._spellings = {d: (d, *result_key_variants(d)) for d in report.dimensions}
        self._known = frozenset(
            {self.date_dimension, "data", *self.dimensions, *self.variants, *_CONVERTERS, *_ALIASES}
        )
        self._measures_seen: set[str] = set()

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
                base[key] = _dimension_value(value)
            elif key in self.variants and self.variants[key] not in row:
                base[self.variants[key]] = _dimension_value(value)
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
        if base["cohort_date"] is None or base["measure"] is None or not bands:
            raise self._refused(row, self._problem(row) or "cannot be expanded", None)
        if extra:  # the catch-all keys only when they hold something
            base[EXTRA] = extra
        records = []
        for unit, index, raw in bands:
            record = dict(base, band=index, band_unit=unit, value=None)
            if raw is not None and raw != "":
                try:  # "407" stays an int: CSV and JSON results give the same records
                    record["value"] = parse_number_keeping_integers(raw)
                except (TypeError, ValueError):
                    record[UNPARSED] = {**unparsed, "value": as_text(raw)}
            if unparsed and UNPARSED not in record:
                record[UNPARSED] = dict(unparsed)
            records.append(record)
        return records

    def check(self, row: t.Mapping[str, t.Any], number: int) -> None:
        """Raise for row `number` of the result when the tap cannot key or expand it (to
        fail before the file's first record is emitted)."""
        problem = self._problem(row)
        if problem:
            raise self._refused(row, problem, number)
        self._measures_seen.add(str(row["measure"]).upper())

    def check_measures(self, rows: int) -> None:
        """Raise when a result of a report with more measures than Branch's request tables
        allow lacks some of them: Branch answered fewer measures than asked, and the missing
        ones would be lost without a word. (Every measure of a cohort row comes with it, its
        bands zeros where nothing happened, as Branch's documents show them.)"""
        if not rows or not self.report.measures_in_doubt:
            return
        missing = [m for m in self.report.measures if m.upper() not in self._measures_seen]
        if missing:
            raise FatalAPIError(
                f"{self.source}: the result has no row for measure(s) {', '.join(missing)}: "
                f"Branch answered fewer measures than asked. {self.report.measures_limit_advice()}"
            )

    def _problem(self, row: t.Mapping[str, t.Any]) -> str | None:
        """What makes `row` unusable, in words; None for a good row."""
        if _date(row.get(self.date_dimension)) is None:
            found = row.get(self.date_dimension)
            shown = "missing" if found in (None, "") else repr(str(found)[:40])
            return f"has no cohort date ({self.date_dimension}: {shown}); the tap cannot key it"
        for field in REQUIRED:
            if row.get(field) in (None, ""):
                return f"has no '{field}'; the tap cannot key it (it is part of the primary key)"
        return self._band_problem(row) or self._dimension_problem(row)

    def _band_problem(self, row: t.Mapping[str, t.Any]) -> str | None:
        if "data" in row:
            data = row["data"]
            if not isinstance(data, t.Mapping):
                return f"has 'data' that is a JSON {json_kind(data)}, not an object of bands"
            if not any(_band_of(str(key)) for key in data):
                # Branch's documents show every row with its bands (zeros written out), and
                # band 0 of every cohort day the tap asks for has begun: none is no result.
                shown = ", ".join(sorted(map(str, data))[:10]) or "nothing"
                return f"has no band (day0, week_1, ...) in its 'data' object, which holds {shown}"
            return None
        if not any(_band_of(key) for key, value in row.items() if value is not None):
            return "has no band (day0, week_1, ...): neither a 'data' object nor band columns"
        return None

    def _dimension_problem(self, row: t.Mapping[str, t.Any]) -> str | None:
        missing = [d for d, keys in self._spellings.items() if not any(k in row for k in keys)]
        if not missing:
            return None
        unknown = sorted(k for k in row if k not in self._known and _band_of(k) is None)
        if not unknown:
            return None  # the dimension is simply null in this row
        return (
            f"has no {', '.join(missing)} (dimension(s) of report '{self.report.name}') but keys "
            f"the tap does not know: {', '.join(unknown)}; Branch may have answered a dimension "
            "under another name, and its rows would collapse onto one key"
        )

    def _refused(
        self, row: t.Mapping[str, t.Any], problem: str, number: int | None
    ) -> FatalAPIError:
        which = f"row {number}" if number is not None else "a row"
        return FatalAPIError(
            f"{self.source}: {which} {problem}. Row fields: {', '.join(sorted(map(str, row)))}"
        )

    @staticmethod
    def _band(key: str, value: t.Any, bands: list, extra: dict) -> None:
        band = _band_of(key)
        if band is not None:
            bands.append((*band, value))
        elif value is not None:
            extra[key] = as_text(value)


def _dimension_value(value: t.Any) -> str | None:
    return None if value is None or value == "" else as_text(value)


@functools.lru_cache(maxsize=1024)
def _band_of(key: str) -> tuple[str, int] | None:
    """(unit, index) of a band's key ("day3", "week_2"), None for another key. Cached: every
    row of a result has the same few keys, and this ran for every band of every row."""
    match = _BAND.match(key)
    return (match.group(1), int(match.group(2))) if match else None


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
