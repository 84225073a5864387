"""Reports as configured (settings `query_reports`, `aggregate_reports`): validation, query
body, schema.

A report is one query shape (data source, aggregation, dimensions, filters); each becomes a
stream `query_<name>` (Query API) or `aggregate_<name>` (Aggregate Exports), checked against
that API's vocabulary (`Api`). An invalid report fails when the tap starts, naming the report
and its field, before any request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import typing as t

from singer_sdk import typing as th

from tap_branch.config.errors import invalid_setting
from tap_branch.records.typers import CATCH_ALL_PROPERTIES
from tap_branch.streams.analytics import catalog

SETTING = "query_reports"
AGGREGATE_SETTING = "aggregate_reports"


@dataclasses.dataclass(frozen=True)
class Api:
    """What one API accepts: the reports of `setting` become streams `<prefix>_<name>`."""

    setting: str
    prefix: str
    data_sources: t.Sequence[str]
    aggregations: t.Mapping[str, str]
    dimensions: t.Mapping[str, str]


QUERY = Api(SETTING, "query", catalog.DATA_SOURCES, catalog.AGGREGATIONS, catalog.DIMENSIONS)
AGGREGATE = Api(
    AGGREGATE_SETTING,
    "aggregate",
    catalog.AGGREGATE_DATA_SOURCES,
    catalog.AGGREGATE_AGGREGATIONS,
    catalog.AGGREGATE_DIMENSIONS,
)
DEFAULT_REPORT = {
    "name": "installs",
    "data_source": "eo_install",
    "aggregation": "unique_count",
    "dimensions": [
        "last_attributed_touch_data_tilde_campaign",
        "last_attributed_touch_data_tilde_channel",
        "last_attributed_touch_data_tilde_advertising_partner_name",
        "user_data_os",
    ],
    "granularity": "day",
}

_NAME = re.compile(r"^[a-z0-9_]+$")
_TYPES = {"string": th.StringType, "integer": th.IntegerType, "boolean": th.BooleanType}
_NUMBERS = {"integer": th.IntegerType, "number": th.NumberType}


@dataclasses.dataclass(frozen=True)
class QueryReport:
    api: Api
    name: str
    data_source: str
    aggregation: str
    dimensions: tuple[str, ...]
    filters: t.Mapping[str, tuple[str, ...]]
    granularity: str
    zero_fill: bool | None
    enable_install_recalculation: bool | None

    @property
    def stream_name(self) -> str:
        return f"{self.api.prefix}_{self.name}"

    def body(self, start: dt.date, end: dt.date) -> dict:
        """The JSON body of `POST /v1/query/analytics` for the days start..end-1 (`end_date` is
        exclusive), without the credentials (the stream adds them)."""
        body: dict[str, t.Any] = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "data_source": self.data_source,
            "aggregation": self.aggregation,
            "dimensions": list(self.dimensions),
            "granularity": self.granularity,
        }
        if self.filters:
            body["filters"] = {key: list(values) for key, values in self.filters.items()}
        if self.zero_fill is not None:
            body["zero_fill"] = self.zero_fill
        if self.enable_install_recalculation is not None:
            body["enable_install_recalculation"] = self.enable_install_recalculation
        return body


def reports_from_config(config: t.Mapping[str, t.Any], api: Api = QUERY) -> list[QueryReport]:
    """Every configured report, validated; the Query API's default report when none is
    configured (Aggregate Exports have none: their streams exist only when asked for)."""
    raw = config.get(api.setting)
    if raw is None and api is QUERY:
        raw = [DEFAULT_REPORT]
    reports = [parse_report(entry, index, api) for index, entry in enumerate(raw or [])]
    seen: set[str] = set()
    for report in reports:
        if report.name in seen:
            raise invalid_setting(
                f"{api.setting}: two reports are named '{report.name}'; names must be unique."
            )
        seen.add(report.name)
    return reports


def parse_report(entry: t.Any, index: int, api: Api = QUERY) -> QueryReport:
    setting = api.setting
    if not isinstance(entry, t.Mapping):
        raise invalid_setting(
            f"{setting}[{index}] must be an object with at least 'name', 'data_source', "
            "'aggregation' and 'dimensions'."
        )
    name = str(entry.get("name") or "")
    where = f"{setting}[{index}] ('{name}')" if name else f"{setting}[{index}]"

    def fail(field: str, problem: str) -> t.NoReturn:
        raise invalid_setting(f"{where}, field '{field}': {problem}")

    if not _NAME.match(name):
        fail(
            "name",
            f"required; lower-case letters, digits and underscores (stream {api.prefix}_<name>).",
        )
    source = entry.get("data_source")
    if source not in api.data_sources:
        fail("data_source", f"{source!r} is not one of {', '.join(api.data_sources)}.")
    aggregation = entry.get("aggregation")
    if aggregation not in api.aggregations:
        fail("aggregation", f"{aggregation!r} is not one of {', '.join(api.aggregations)}.")
    dimensions = _strings(entry.get("dimensions"), fail, "dimensions")
    if not dimensions:
        fail("dimensions", "at least one dimension is required (e.g. user_data_os).")
    for dimension in dimensions:
        if dimension == "timestamp":
            fail("dimensions", "'timestamp' is in every record already (the day's bucket).")
        if dimension not in api.dimensions:
            fail("dimensions", f"{dimension!r} is not a dimension{_close(dimension, api)}")
    if len(set(dimensions)) != len(dimensions):
        fail("dimensions", "lists a dimension twice.")
    if len(dimensions) > catalog.MAX_DIMENSIONS:
        fail(
            "dimensions",
            f"{len(dimensions)} dimensions exceed the limit of {catalog.MAX_DIMENSIONS}; "
            "split the report into several.",
        )
    if source in catalog.SAN_SOURCES:
        for pair in catalog.FORBIDDEN_PAIRS:
            if set(pair) <= set(dimensions):
                fail(
                    "dimensions",
                    f"Branch refuses {pair[0]} together with {pair[1]} for data source {source}.",
                )
    filters = entry.get("filters") or {}
    if not isinstance(filters, t.Mapping):
        fail("filters", "must be an object: {dimension: [values, ...]} ('!dimension' excludes).")
    parsed_filters: dict[str, tuple[str, ...]] = {}
    for key, values in filters.items():
        dimension = str(key).removeprefix("!")
        if dimension not in api.dimensions:
            fail("filters", f"{key!r} is not a dimension{_close(dimension, api)}")
        if not isinstance(values, list):
            values = [values]
        # Branch's filter values are strings; YAML turns `true` and `3` into other types
        texts = [_filter_text(v) for v in values]
        if not texts:
            fail(f"filters.{key}", "lists no value (it would match nothing or exclude nothing).")
        parsed_filters[str(key)] = tuple(_strings(texts, fail, f"filters.{key}"))
    granularity = entry.get("granularity", "day")
    if granularity not in catalog.GRANULARITIES:
        fail(
            "granularity",
            f"{granularity!r} is not supported: only 'day' (records are per day, bookmarked "
            "by day).",
        )
    flags = {}
    for flag in ("zero_fill", "enable_install_recalculation"):
        value = entry.get(flag)
        if value is not None and not isinstance(value, bool):
            fail(flag, f"{value!r} is not true or false.")
        flags[flag] = value
    return QueryReport(
        api=api,
        name=name,
        data_source=source,
        aggregation=aggregation,
        dimensions=tuple(dimensions),
        filters=parsed_filters,
        granularity=granularity,
        zero_fill=flags["zero_fill"],
        enable_install_recalculation=flags["enable_install_recalculation"],
    )


def _strings(values: t.Any, fail: t.Callable[[str, str], t.NoReturn], field: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        fail(field, "must be a list of non-empty strings.")
    return list(values)


def _filter_text(value: t.Any) -> t.Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return value  # anything else is refused by `_strings`, naming the filter


def _close(name: str, api: Api) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(api.dimensions), n=1, cutoff=0.7)
    return f"; did you mean {close[0]!r}?" if close else " (see docs/families/analytics.md)."


# --- schema --------------------------------------------------------------------


#: The dimension values as one JSON array, in the report's order: the key's part for the
#: dimensions. The dimension columns themselves hold nulls, which key columns cannot in
#: most databases (PostgreSQL refuses the rows of such a primary key).
DIMENSIONS_KEY = "dimension_values"


def primary_keys(report: QueryReport, scope: str = "app_id") -> list[str]:
    """`scope`: whom a record's numbers are for, its app or (Aggregate Exports asked per
    organization) its organization."""
    return ["report", scope, "date", DIMENSIONS_KEY]


def dimensions_key(values: t.Sequence[t.Any]) -> str:
    return json.dumps(list(values), ensure_ascii=False, separators=(",", ":"))


def schema(report: QueryReport, scope: str = "app_id") -> dict:
    """The records' schema; `scope` as in `primary_keys`. Per organization, Branch sums the
    organization's apps unless the report has dimension `app_id`, the record's `app_id` then
    (null otherwise)."""
    value_type = _NUMBERS[report.api.aggregations[report.aggregation]]
    if scope == "organization_id":
        owner = [
            th.Property(
                "organization_id",
                th.StringType,
                required=True,
                description="The Branch organization the report was asked for.",
            ),
            th.Property(
                "app_id",
                th.StringType,
                description="The app (dimension app_id); null when the report has no "
                "dimension app_id: the organization's apps together.",
            ),
        ]
    else:
        owner = [th.Property("app_id", th.StringType, required=True, description="The Branch app.")]
    return th.PropertiesList(
        th.Property(
            "report",
            th.StringType,
            required=True,
            description=f"The report's name (setting {report.api.setting}).",
        ),
        *owner,
        th.Property(
            "date",
            th.DateType,
            required=True,
            description="The day, in the app's dashboard time zone (dashboard_time_zones).",
        ),
        th.Property(
            "timestamp",
            th.DateTimeType,
            required=True,
            description="Branch's bucket timestamp (UTC): the day's start in the dashboard zone.",
        ),
        th.Property(
            DIMENSIONS_KEY,
            th.StringType,
            required=True,
            description="The day's dimension values as a JSON array in the report's order "
            f"(null for an empty one): with report, {scope} and date the primary key.",
        ),
        *(
            th.Property(
                d,
                _TYPES[report.api.dimensions[d]],
                description=f"Dimension {d} (null: Branch's empty value).",
            )
            for d in report.dimensions
            if d != "app_id"  # the record's own app_id column
        ),
        th.Property(
            report.aggregation,
            value_type,
            required=True,
            description=f"The {report.aggregation} of {report.data_source} for the day and "
            "dimension values; may change for days inside query_settle_days.",
        ),
        *CATCH_ALL_PROPERTIES,
    ).to_dict()
