"""Cohort reports as configured (setting `cohort_reports`): validation, schema, dates.

A report is one query shape; each becomes a stream `cohort_<name>`. The date math
lives here too: how a date range is cut into query windows, and which cohort days
are mature (their band values will not change any more).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t

from singer_sdk import typing as th

from tap_branch.config.errors import invalid_setting
from tap_branch.records.typers import CATCH_ALL_PROPERTIES
from tap_branch.streams.cohort import catalog

DEFAULT_REPORT = {
    "name": "installs_by_campaign",
    "data_source": "install_cohort",
    "dimensions": [
        "install_activity_touch_data_tilde_campaign",
        "install_activity_touch_data_tilde_channel",
        "install_activity_touch_data_tilde_advertising_partner_name",
    ],
    # How many users, how much revenue, how many opens.
    "measures": ["users", "revenue", "OPEN"],
    "granularity": "day",
    "granularity_band_count": 30,
}

_NAME = re.compile(r"^[a-z0-9_]+$")
_TIME_ZONE_NOTE = "Cohort dates are days in the app's dashboard time zone (Branch's *_timezone_adjusted_day), not UTC."

#: Record fields every report has, besides its dimensions.
FIXED_FIELDS = (
    "measure",
    "metric",
    "per_user",
    "cumulative",
    "band",
    "band_unit",
    "value",
    "users",
    "cost",
)


@dataclasses.dataclass(frozen=True)
class CohortReport:
    name: str
    data_source: str
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    filters: t.Mapping[str, tuple[str, ...]]
    granularity: str
    granularity_band_count: int
    cumulative: bool
    per_user: bool
    enable_install_recalculation: bool | None

    @property
    def stream_name(self) -> str:
        return f"cohort_{self.name}"

    @property
    def date_dimension(self) -> str:
        return catalog.cohort_date_dimension(self.data_source)

    @property
    def measures_in_doubt(self) -> bool:
        """More measures than Branch's request tables allow (`catalog.REQUEST_TABLE_MEASURES`):
        an account held to those may refuse the query, or answer fewer measures."""
        return len(self.measures) > catalog.REQUEST_TABLE_MEASURES

    def measures_limit_advice(self) -> str:
        """What to do when Branch holds this report to its request tables' limit."""
        limit = catalog.REQUEST_TABLE_MEASURES
        return (
            f"report '{self.name}' asks for {len(self.measures)} measures "
            f"({', '.join(self.measures)}), and Branch's request tables allow {limit} a query "
            f"(its limits table {catalog.MAX_MEASURES}, which the tap accepts). Split the "
            f"measures into cohort_reports of at most {limit} each."
        )

    def query(self, start: dt.date, end: dt.date) -> dict:
        """The JSON body of `POST /v2/analytics` for one window."""
        body: dict[str, t.Any] = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            # The cohort date is always a dimension: results are per cohort day.
            "dimensions": [self.date_dimension, *self.dimensions],
            "data_source": self.data_source,
            "measures": list(self.measures),
            "granularity": self.granularity,
            "granularity_band_count": self.granularity_band_count,
            "cumulative": self.cumulative,
            "per_user": self.per_user,
        }
        if self.filters:
            body["filters"] = {key: list(values) for key, values in self.filters.items()}
        if self.enable_install_recalculation is not None:
            body["enable_install_recalculation"] = self.enable_install_recalculation
        return body


def reports_from_config(config: t.Mapping[str, t.Any]) -> list[CohortReport]:
    """Every configured report, validated; the default report when none is configured."""
    raw = config.get("cohort_reports")
    reports = [parse_report(entry, index) for index, entry in enumerate(raw or [DEFAULT_REPORT])]
    seen: set[str] = set()
    for report in reports:
        if report.name in seen:
            raise invalid_setting(
                f"cohort_reports: two reports are named '{report.name}'; names must be unique."
            )
        seen.add(report.name)
    return reports


def parse_report(entry: t.Any, index: int) -> CohortReport:
    if not isinstance(entry, t.Mapping):
        raise invalid_setting(
            f"cohort_reports[{index}] must be an object with at least 'name' and 'measures'."
        )
    name = str(entry.get("name") or "")
    where = f"cohort_reports[{index}] ('{name}')" if name else f"cohort_reports[{index}]"

    def fail(field: str, problem: str) -> t.NoReturn:
        raise invalid_setting(f"{where}, field '{field}': {problem}")

    if not _NAME.match(name):
        fail(
            "name",
            "required; lower-case letters, digits and underscores only (it names the stream cohort_<name>).",
        )
    source = entry.get("data_source", "install_cohort")
    if source not in catalog.DATA_SOURCES:
        fail("data_source", f"{source!r} is not one of {', '.join(catalog.DATA_SOURCES)}.")
    allowed = catalog.dimensions_of(source)
    date_dimension = catalog.cohort_date_dimension(source)
    dimensions = _strings(entry.get("dimensions") or [], fail, "dimensions")
    for dimension in dimensions:
        if dimension not in allowed:
            fail(
                "dimensions",
                f"{dimension!r} is not a dimension of {source} (see Branch's cohort export docs).",
            )
    if len(set(dimensions)) != len(dimensions):
        fail("dimensions", "lists a dimension twice.")
    dimensions = [d for d in dimensions if d != date_dimension]  # added to every query anyway
    if len(dimensions) + 1 > catalog.MAX_DIMENSIONS:
        fail(
            "dimensions",
            f"{len(dimensions)} dimensions plus the cohort date ({date_dimension}, always added) exceed "
            f"Branch's limit of {catalog.MAX_DIMENSIONS}.",
        )
    measures = _strings(entry.get("measures") or [], fail, "measures")
    if not measures:
        fail(
            "measures",
            "at least one measure is required (e.g. users, revenue, OPEN, or a custom event name).",
        )
    if len(measures) > catalog.MAX_MEASURES:
        fail(
            "measures", f"{len(measures)} measures exceed Branch's limit of {catalog.MAX_MEASURES}."
        )
    filters = entry.get("filters") or {}
    if not isinstance(filters, t.Mapping):
        fail("filters", "must be an object: {dimension: [values, ...]}.")
    parsed_filters: dict[str, tuple[str, ...]] = {}
    for key, values in filters.items():
        if key not in allowed:
            fail("filters", f"{key!r} is not a dimension of {source}.")
        if isinstance(values, str):
            values = [values]
        parsed_filters[key] = tuple(_strings(values, fail, f"filters.{key}"))
    granularity = entry.get("granularity", "day")
    if granularity not in catalog.GRANULARITIES:
        fail("granularity", f"{granularity!r} is not one of {', '.join(catalog.GRANULARITIES)}.")
    bands = entry.get("granularity_band_count", DEFAULT_REPORT["granularity_band_count"])
    if isinstance(bands, bool) or not isinstance(bands, int) or bands < 1:
        fail("granularity_band_count", f"{bands!r} is not a positive integer.")
    flags = {}
    for flag in ("cumulative", "per_user", "enable_install_recalculation"):
        value = entry.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(flag, f"{value!r} is not true or false.")
        flags[flag] = value
    return CohortReport(
        name=name,
        data_source=source,
        dimensions=tuple(dimensions),
        measures=tuple(measures),
        filters=parsed_filters,
        granularity=granularity,
        granularity_band_count=bands,
        cumulative=bool(flags["cumulative"]),
        per_user=bool(flags["per_user"]),
        enable_install_recalculation=flags["enable_install_recalculation"],
    )


def _strings(values: t.Any, fail: t.Callable[[str, str], t.NoReturn], field: str) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        fail(field, "must be a list of non-empty strings.")
    return list(values)


# --- schema --------------------------------------------------------------------


def dimension_fields(report: CohortReport) -> list[str]:
    """Record fields that hold dimension values (`app_id` doubles as the app's own field)."""
    return list(report.dimensions)


def primary_keys(report: CohortReport, scope: str) -> list[str]:
    keys = ["report", scope, "cohort_date", *dimension_fields(report)]
    keys += ["measure", "metric", "per_user", "cumulative", "band"]
    return list(dict.fromkeys(keys))  # `app_id` may be both scope and dimension


def schema(report: CohortReport) -> dict:
    dims = [d for d in dimension_fields(report) if d != "app_id"]
    return th.PropertiesList(
        th.Property(
            "report",
            th.StringType,
            required=True,
            description="The cohort report (setting cohort_reports) of the row.",
        ),
        th.Property(
            "organization_id",
            th.StringType,
            description="Branch organization id the report was queried for, when queried per organization.",
        ),
        th.Property(
            "app_id",
            th.StringType,
            description="Branch app id: the app queried for, or the `app_id` dimension's value.",
        ),
        th.Property(
            "cohort_date",
            th.DateType,
            required=True,
            description=f"The cohort's day. {_TIME_ZONE_NOTE}",
        ),
        *(
            th.Property(d, th.StringType, description=f"Dimension {d} (as Branch writes it).")
            for d in dims
        ),
        th.Property(
            "measure",
            th.StringType,
            required=True,
            description="The measure (OPEN, revenue, users, a custom event, ...).",
        ),
        th.Property(
            "metric",
            th.StringType,
            description="Branch's metric of the measure (total_count, revenue, ...).",
        ),
        th.Property(
            "per_user",
            th.BooleanType,
            description="Whether the value is divided by the cohort's users.",
        ),
        th.Property(
            "cumulative",
            th.BooleanType,
            description="Whether the value sums this and every earlier band.",
        ),
        th.Property(
            "band",
            th.IntegerType,
            required=True,
            description="Band index: units of band_unit since the cohort date (0 = the cohort's own day/week/month).",
        ),
        th.Property(
            "band_unit",
            th.StringType,
            description="The unit of `band`: day, week or month (the report's granularity).",
        ),
        th.Property(
            "value",
            th.NumberType,
            description="The band's value; keeps changing until the cohort is mature.",
        ),
        th.Property(
            "users",
            th.IntegerType,
            description="Users in the cohort (Branch's `users`, or `user` in some CSVs).",
        ),
        th.Property(
            "cost",
            th.NumberType,
            description="Cost attributed to the cohort, when Branch reports it.",
        ),
        *CATCH_ALL_PROPERTIES,
    ).to_dict()


# --- dates -------------------------------------------------------------------------


def add_units(day: dt.date, unit: str, count: int) -> dt.date:
    """`day` plus `count` days, weeks or calendar months (clamped to the month's end)."""
    if unit == "day":
        return day + dt.timedelta(days=count)
    if unit == "week":
        return day + dt.timedelta(weeks=count)
    months = day.month - 1 + count
    year, month = day.year + months // 12, months % 12 + 1
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    return dt.date(year, month, min(day.day, (next_month - dt.timedelta(days=1)).day))


def last_mature_day(report: CohortReport, today: dt.date) -> dt.date:
    """The last cohort day whose every band has ended.

    Band k of cohort day d covers d + k units; the last band (band_count - 1) ends at
    d + band_count units. A day of slack covers the dashboard time zone being ahead of UTC.
    """
    return add_units(
        today - dt.timedelta(days=1), report.granularity, -report.granularity_band_count
    )


def windows(report: CohortReport, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """[start, end] cut into query windows of at most 90 days, ending on granularity boundaries.

    Weekly windows end on Sundays and hold at most 12 weeks; monthly ones end on a month's
    last day and hold at most 2 calendar months (3 could exceed 90 days).
    """
    result = []
    while start <= end:
        if report.granularity == "week":
            last = start + dt.timedelta(days=6 - start.weekday()) + dt.timedelta(weeks=11)
        elif report.granularity == "month":
            last = add_units(start.replace(day=1), "month", 2) - dt.timedelta(days=1)
        else:
            last = start + dt.timedelta(days=catalog.MAX_WINDOW_DAYS - 1)
        last = min(last, end)
        result.append((start, last))
        start = last + dt.timedelta(days=1)
    return result
