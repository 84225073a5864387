"""Sandbox: Branch's Aggregate Exports API (analytics-apis.md, section 2), on the path the
Cohort API shares (`POST /v2/analytics`, `GET /v2/analytics/<job_id>`): `cohort` keeps the
jobs and hands a body without cohort `measures` to this module, which checks it and writes
its result from the same numbers the sandbox's Query API computes (`query_api`), i.e. from the
sandbox's own event tables.

- Body: `start_date`, `end_date` (`YYYY-MM-DD`; `end_date` exclusive, at most 7 days after
  the start, as the documented file name `2023-05-12-2023-05-19-eo_install-day-...` reads),
  `data_source`, `dimensions` (1 to 11), `aggregation` (default `total_count`; `cost` and
  both spellings `cost-in-local-currency` / `cost_in_local_currency` need data source `cost`),
  `filters`, `granularity` (`day` only here), `enable_install_recalculation`.
- Scope: a job for an `app_id` counts that app's events on its dashboard days
  (`query_time_zones`). A job for the `organization_id` counts all the organization's apps
  together, on the days of the zone set for the organization (`query_time_zones`, keyed by
  the organization id; UTC otherwise) whatever its apps' own zones, and names no app unless
  asked for dimension `app_id` (Branch documents neither: the harsher reading, where a tap
  cannot take an app's zone or an app column for granted).
- Dimensions: the Query API's and `app_id` (Branch lists it for Aggregate Exports).
- Result: CSV (header `timestamp`, the dimensions, the aggregation) or, with `format=json`,
  a JSON array of the same objects; `timestamp` is the day's local midnight in UTC. At most
  `limit` rows (Branch's cap: 50,000, `cohort_record_cap`), the largest first.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import typing as t

from tap_branch_sandbox import query_api
from tap_branch_sandbox.server import Sandbox

AGGREGATIONS = ("unique_count", "total_count", "revenue", "cost", "cost-in-local-currency")
AGGREGATIONS += ("cost_in_local_currency",)
MAX_DIMENSIONS = 11
MAX_DAYS = 7
KNOWN_DIMENSIONS = query_api.DIMENSIONS | {"app_id"}


#: The Cohort API's data sources: a body with one of them, or with `measures`, is a cohort query.
COHORT_SOURCES = ("install_cohort", "reengagement_cohort")


def is_aggregate(body: t.Any) -> bool:
    """An Aggregate Exports body (the two APIs share the path): no cohort `measures` nor a
    cohort data source (`aggregation` is optional: Branch's default is total_count)."""
    return (
        isinstance(body, dict)
        and "measures" not in body
        and body.get("data_source") not in COHORT_SOURCES
    )


def invalid(body: dict) -> str | None:
    source = body.get("data_source")
    if source not in query_api.DATA_SOURCES or source.startswith("xx_"):
        return f"Invalid data_source: {source!r}"
    try:
        start = dt.date.fromisoformat(str(body.get("start_date")))
        end = dt.date.fromisoformat(str(body.get("end_date")))
    except ValueError:
        return "start_date and end_date must be YYYY-MM-DD"
    if not 0 < (end - start).days <= MAX_DAYS:
        return f"end_date must be 1 to {MAX_DAYS} days after start_date"
    dimensions = body.get("dimensions")
    if not isinstance(dimensions, list) or not 1 <= len(dimensions) <= MAX_DIMENSIONS:
        return f"dimensions: 1 to {MAX_DIMENSIONS} required"
    unknown = [d for d in dimensions if d not in KNOWN_DIMENSIONS or d == "timestamp"]
    if unknown:
        return f"Invalid dimensions: {', '.join(map(str, unknown))}"
    aggregation = body.get("aggregation", "total_count")
    if aggregation not in AGGREGATIONS:
        return f"Invalid aggregation: {aggregation!r}"
    if aggregation.startswith("cost") != (source == "cost"):
        return f"aggregation {aggregation} is not available for data_source {source}"
    if aggregation == "revenue" and source != "eo_commerce_event":
        return "aggregation revenue needs data_source eo_commerce_event"
    if body.get("granularity", "day") != "day":
        return "granularity: only day is served by the sandbox"
    filters = body.get("filters") or {}
    if not isinstance(filters, dict) or any(
        k.removeprefix("!") not in KNOWN_DIMENSIONS or not isinstance(v, list)
        for k, v in filters.items()
    ):
        return "filters must be {dimension: [values]}"
    return None


def result_bytes(sandbox: Sandbox, job: dict) -> t.Iterator[bytes]:
    body = job["query"]
    if job["scope"] in sandbox.app_ids():
        app_id, apps, zone = job["scope"], (), None
    else:  # the organization: every app, in the organization's zone
        zone = query_api.time_zone(sandbox, job["scope"])
        app_id, apps = sandbox.config.app_id, sandbox.app_ids()
    aggregation = body.get("aggregation", "total_count")
    query = {
        "start": body["start_date"],
        "end": body["end_date"],
        "source": body["data_source"],
        # the Query API's numbers under the aggregation's name
        "aggregation": aggregation.replace("-", "_"),
        "dimensions": body["dimensions"],
        "filters": {k: [str(v) for v in vs] for k, vs in (body.get("filters") or {}).items()},
        "granularity": "day",
        "zero_fill": False,
        "descending": True,
    }
    rows = []
    for bucket in query_api.day_buckets(sandbox, app_id, query, apps=apps, zone=zone):
        for item in bucket:
            result = dict(item["result"])
            value = result.pop(query["aggregation"])
            rows.append({"timestamp": item["timestamp"], **result, aggregation: value})
    rows.sort(key=lambda row: -row[aggregation])
    rows = rows[: job["limit"]]
    if job["format"] == "json":
        yield json.dumps(rows, indent=2).encode()
        return
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["timestamp", *body["dimensions"], aggregation])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else _cell(row.get(c)) for c in row])
    yield out.getvalue().encode()


def _cell(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
