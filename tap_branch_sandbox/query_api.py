"""Sandbox: Branch's Query API (analytics-apis.md, section 1), computed from the sandbox's own
event tables, the rows Daily Exports v3 serves (`daily_v3`), so an aggregate can be checked
against the events it came from.

`POST /v1/query/analytics?limit=&after=&query_id=` with `{branch_key, branch_secret,
start_date, end_date, data_source, aggregation, dimensions, filters, granularity, zero_fill,
ordered, ordered_by}` -> `{"results": [{"timestamp", "result": {<dimension>: value,
<aggregation>: n}}], "paging": {"total_count", "next_url"?}}`.

- Days are the app's dashboard days (`query_time_zones`, default UTC): day D holds the
  events whose moment falls on D in that zone (from the v3 tables of three UTC days), and
  its bucket `timestamp` is D's local midnight in UTC (`2024-03-04T08:00:00.000Z` for UTC-8).
- Real time: an event counts once it happened, before `query_now_hour` o'clock UTC of the
  sandbox's today. `unique_count` counts users (an event's `user_data_developer_identity`, or
  the event itself without one), `total_count` events, `revenue` `event_data_revenue` sums.
  `xx_click`/`xx_impression` are their `eo_` topics (no SAN networks here); `cost` has no rows.
- Dates are `YYYY-MM-DD` (a time of day is refused, as Branch's later pages say), `end_date`
  exclusive and at most 7 days after `start_date`, within the rolling 2 years, not before
  2017-10-14. `limit` (default 100, at most 1000) applies to each day's rows: a page holds
  up to `limit` rows of every day from `after` on; `next_url` (relative, with `query_id`)
  follows while a day has more. A `query_id` pins the answer it was issued with (late
  events do not move later pages) and must come with the same query.
- Dimension values: null for an empty one (`query_empty_value`), booleans and integers as
  JSON ones, lists joined with commas.
- Errors: 400 `{"error": {"message", "code"}}` naming the field; the documented rate limits
  (5/s, 20/min, 150/h per organization) answer `{"errors": [{"message": "Limit is exceeded for
  org-<id>, retry after N seconds", "error_code": 7}]}`.
- At most 50,000 rows per query (`query_row_cap`), cut silently: the rows past it are in no
  page and not in `total_count` (Branch does not say whether the cap is per page or per query).
- Late corrections: `query_late_events` more events of each day (not in the v3 tables: they
  arrived after the export) count from the day after the day after (sandbox clock).

Options:
- `query_time_zones`: {app_id: IANA zone} (default UTC for every app); an organization_id key
  sets the zone of organization-scoped Aggregate Exports jobs (default UTC)
- `query_now_hour`: the hour of the sandbox's today (UTC) that is "now" (default 12)
- `query_late_events`: late events per day and topic (default 0)
- `query_rate_limits`: windows as [[requests, sandbox seconds], ...] (default 5/1, 20/60, 150/3600)
- `query_rate_limit_status`: the HTTP status of the rate-limit body (default 429; Branch does
  not document it)
- `query_empty_value`: "null" (default) or "empty_string" for an empty dimension value
- `query_row_cap`: the rows a query returns at most (default 50,000)
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
import json
import typing as t
import zoneinfo

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import daily_v3
from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.event_rows import event_values
from tap_branch_sandbox.server import Sandbox, json_response

PATH = "/v1/query/analytics"
EVENT_TOPICS = (
    "eo_impression",
    "eo_click",
    "eo_branch_cta_view",
    "eo_sms_sent",
    "eo_open",
    "eo_install",
    "eo_reinstall",
    "eo_web_session_start",
    "eo_pageview",
    "eo_commerce_event",
    "eo_custom_event",
    "eo_content_event",
    "eo_dismissal",
    "eo_user_lifecycle_event",
    "eo_web_to_app_auto_redirect",
)
DATA_SOURCES = {**{topic: topic for topic in EVENT_TOPICS}, "xx_click": "eo_click"}
DATA_SOURCES.update({"xx_impression": "eo_impression", "cost": None})
AGGREGATIONS = ("unique_count", "total_count", "revenue", "cost", "cost_in_local_currency")
_TOUCH = "last_attributed_touch_data_"
_CTA = "last_cta_view_data_"
DIMENSIONS = frozenset(
    [
        "name",
        "origin",
        "timestamp",
        "deep_linked",
        "from_desktop",
        "attributed",
        "first_event_for_user",
        "user_data_os",
        "user_data_language",
        "user_data_platform",
        "user_data_environment",
        "user_data_geo_dma_code",
        "user_data_geo_country_code",
        "last_attributed_touch_type",
        "days_from_last_attributed_touch_to_event",
        "days_from_last_cta_view_to_event",
        "event_data_product_categories",
        *(
            _TOUCH + s
            for s in [
                "tilde_tags",
                "tilde_secondary_publisher",
                "plus_current_feature",
                "plus_via_features",
                "tilde_campaign",
                "tilde_advertising_partner_name",
                "tilde_feature",
                "tilde_creative_name",
                "plus_web_format",
                "tilde_creative_id",
                "tilde_ad_name",
                "tilde_ad_id",
                "tilde_campaign_id",
                "tilde_stage",
                "tilde_channel",
                "tilde_ad_set_name",
                "tilde_ad_set_id",
            ]
        ),
        *(
            _CTA + s
            for s in [
                "tilde_ad_name",
                "tilde_secondary_publisher",
                "tilde_campaign",
                "tilde_advertising_partner_name",
                "tilde_feature",
                "tilde_ad_set_name",
                "tilde_ad_set_id",
                "tilde_campaign_id",
                "tilde_creative_name",
                "tilde_creative_id",
                "plus_via_features",
                "dollar_3p",
                "tilde_tags",
                "plus_web_format",
                "tilde_channel",
                "tilde_ad_id",
                "tilde_stage",
            ]
        ),
    ]
)
SAN_SOURCES = ("cost", "xx_click", "xx_impression")
FORBIDDEN_PAIRS = (
    ("user_data_os", "user_data_geo_country_code"),
    (_TOUCH + "tilde_secondary_publisher", "user_data_geo_country_code"),
)
MAX_DAYS = 7
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ROW_CAP = 50_000
EARLIEST = dt.date(2017, 10, 14)
RATE_LIMITS = [[5, 1.0], [20, 60.0], [150, 3600.0]]
_KEPT_QUERIES = 200


class BadQuery(ValueError):
    """A request Branch answers 400, with the message given."""


def register(sandbox: Sandbox) -> None:
    def analytics(request: Request) -> Response:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _bad("The request body must be a JSON object.")
        app = sandbox.app_for_key(body.get("branch_key"), body.get("branch_secret"))
        if app is None:
            return sandbox.auth_failed()
        windows = [tuple(w) for w in sandbox.option("query_rate_limits", RATE_LIMITS)]
        limited = sandbox.rate_limited("query", sandbox.config.organization_id, windows)
        if limited is not None:
            limited.status_code = int(sandbox.option("query_rate_limit_status", 429))
            return limited
        try:
            return json_response(_answer(sandbox, app.app_id, body, request.args))
        except BadQuery as exc:
            return _bad(str(exc))

    sandbox.add_route(PATH, analytics, methods=["POST"])


def _bad(message: str) -> Response:
    return json_response({"error": {"message": message, "code": 400}}, 400)


# --- the query ------------------------------------------------------------------


def _answer(sandbox: Sandbox, app_id: str, body: dict, args: t.Mapping[str, str]) -> dict:
    query = _checked_query(sandbox, body)
    limit = _integer(args.get("limit"), "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be between 1 and {MAX_LIMIT}")
    after = _integer(args.get("after"), "after", 0)
    if after < 0:
        raise BadQuery("after must not be negative")
    queries = sandbox.state.setdefault("query_api", collections.OrderedDict())
    fingerprint = hashlib.sha256(json.dumps([app_id, query], sort_keys=True).encode()).hexdigest()
    query_id = args.get("query_id")
    if query_id:
        pinned = queries.get(query_id)
        if pinned is None:
            raise BadQuery(f"Unknown or expired query_id {query_id}")
        if pinned["fingerprint"] != fingerprint:
            raise BadQuery(f"query_id {query_id} belongs to another query")
        buckets = pinned["buckets"]
    else:
        buckets = _capped(day_buckets(sandbox, app_id, query), sandbox)
        query_id = syn.stable_id(fingerprint, len(queries), sandbox.today(), digits=16)
        queries[query_id] = {"fingerprint": fingerprint, "buckets": buckets}
        while len(queries) > _KEPT_QUERIES:
            queries.popitem(last=False)
    results = [row for rows in buckets for row in rows[after : after + limit]]
    paging: dict[str, t.Any] = {"total_count": sum(len(rows) for rows in buckets)}
    if any(len(rows) > after + limit for rows in buckets):
        paging["next_url"] = f"{PATH}?query_id={query_id}&limit={limit}&after={after + limit}"
    return {"results": results, "paging": paging}


def _capped(buckets: list[list[dict]], sandbox: Sandbox) -> list[list[dict]]:
    """At most `query_row_cap` rows for the whole query, day after day, and `total_count`
    says only those: Branch documents a 50,000-row maximum without saying whether it is per
    page or per query, nor that it tells; the harsher reading, silent and per query."""
    room = int(sandbox.option("query_row_cap", ROW_CAP))
    kept = []
    for rows in buckets:
        kept.append(rows[: max(room, 0)])
        room -= len(kept[-1])
    return kept


def _checked_query(sandbox: Sandbox, body: dict) -> dict:
    """The query fields of the body, each checked as Branch documents it."""
    for field in ("start_date", "end_date", "data_source", "aggregation", "dimensions"):
        if body.get(field) in (None, "", []):
            raise BadQuery(f"{field} is required")
    start, end = _date(body["start_date"], "start_date"), _date(body["end_date"], "end_date")
    if end <= start:
        raise BadQuery("end_date must be after start_date (end_date is exclusive)")
    if (end - start).days > MAX_DAYS:
        raise BadQuery(f"The date range must not exceed {MAX_DAYS} days")
    today = sandbox.today()
    try:
        oldest = today.replace(year=today.year - 2)
    except ValueError:
        oldest = today.replace(year=today.year - 2, day=28)
    if start < max(EARLIEST, oldest):
        raise BadQuery(f"start_date must be within the last 2 years (not before {oldest})")
    source = body["data_source"]
    if source not in DATA_SOURCES:
        raise BadQuery(f"Invalid data_source: {source}")
    aggregation = body["aggregation"]
    if aggregation not in AGGREGATIONS:
        raise BadQuery(f"Invalid aggregation: {aggregation}")
    if aggregation.startswith("cost") != (source == "cost"):
        raise BadQuery(f"aggregation {aggregation} is not available for data_source {source}")
    if aggregation == "revenue" and source != "eo_commerce_event":
        raise BadQuery("aggregation revenue needs data_source eo_commerce_event")
    dimensions = body["dimensions"]
    if not isinstance(dimensions, list) or not all(isinstance(d, str) for d in dimensions):
        raise BadQuery("dimensions must be a list of strings")
    for dimension in dimensions:
        if dimension not in DIMENSIONS:
            raise BadQuery(f"Invalid dimension: {dimension}")
    if source in SAN_SOURCES:
        for pair in FORBIDDEN_PAIRS:
            if set(pair) <= set(dimensions):
                raise BadQuery(
                    f"Dimensions {pair[0]} and {pair[1]} cannot be combined for {source}"
                )
    filters = body.get("filters") or {}
    if not isinstance(filters, dict):
        raise BadQuery("filters must be an object of lists")
    for key, values in filters.items():
        if key.removeprefix("!") not in DIMENSIONS:
            raise BadQuery(f"Invalid filter dimension: {key}")
        if not isinstance(values, list):
            raise BadQuery(f"filter {key} must be a list of strings")
    granularity = body.get("granularity", "all")
    if granularity not in ("all", "day"):
        raise BadQuery(f"Invalid granularity: {granularity}")
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "source": source,
        "aggregation": aggregation,
        "dimensions": dimensions,
        "filters": {k: [str(v) for v in vs] for k, vs in filters.items()},
        "granularity": granularity,
        "zero_fill": bool(body.get("zero_fill")),
        "descending": body.get("ordered", "descending") != "ascending",
    }


def _date(value: t.Any, field: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadQuery(f"{field} must be a date YYYY-MM-DD (no time of day): {value!r}") from None


def _integer(value: str | None, name: str, default: int) -> int:
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise BadQuery(f"{name} must be an integer: {value!r}") from None


# --- the numbers ----------------------------------------------------------------


def time_zone(sandbox: Sandbox, app_id: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo((sandbox.option("query_time_zones") or {}).get(app_id, "UTC"))


def now(sandbox: Sandbox) -> dt.datetime:
    hour = int(sandbox.option("query_now_hour", 12))
    return syn.day_start(sandbox.today()) + dt.timedelta(hours=hour)


def day_buckets(
    sandbox: Sandbox,
    app_id: str,
    query: dict,
    *,
    apps: t.Sequence[str] = (),
    zone: zoneinfo.ZoneInfo | None = None,
) -> list[list[dict]]:
    """Each bucket's result rows, ordered as asked (by the aggregate, then the values).

    With `apps` and `zone` (an organization's Aggregate Exports job), the events of all those
    apps counted together on the days of that zone; an event's app is its dimension `app_id`.
    """
    zone = zone or time_zone(sandbox, app_id)
    with_app = "app_id" in query["dimensions"] or any(
        key.removeprefix("!") == "app_id" for key in query["filters"]
    )
    start, end = dt.date.fromisoformat(query["start"]), dt.date.fromisoformat(query["end"])
    days = [start + dt.timedelta(days=n) for n in range((end - start).days)]
    groups = [days] if query["granularity"] == "all" else [[day] for day in days]
    dimensions = [d for d in query["dimensions"] if d != "timestamp"]
    per_bucket = []
    for bucket_days in groups:
        sums: dict[tuple, t.Any] = {}
        users: dict[tuple, set] = collections.defaultdict(set)
        for day, app in ((day, app) for day in bucket_days for app in apps or (app_id,)):
            for values in day_events(sandbox, app, query["source"], day, zone):
                if with_app:
                    values = {**values, "app_id": app}
                if not _passes(values, query["filters"]):
                    continue
                key = tuple(dimension_value(sandbox, values.get(d)) for d in dimensions)
                if query["aggregation"] == "unique_count":
                    users[key].add(values.get("user_data_developer_identity") or values["id"])
                    sums[key] = len(users[key])
                elif query["aggregation"] == "total_count":
                    sums[key] = sums.get(key, 0) + 1
                else:
                    sums[key] = round(sums.get(key, 0) + (values.get("event_data_revenue") or 0), 2)
        per_bucket.append(sums)
    if query["zero_fill"]:
        every = {key for sums in per_bucket for key in sums}
        per_bucket = [{key: sums.get(key, 0) for key in every} for sums in per_bucket]
    stamp_fields = {"timestamp"} & set(query["dimensions"])
    buckets = []
    for bucket_days, sums in zip(groups, per_bucket, strict=True):
        stamp = _iso(zoned_day_start(bucket_days[0], zone))
        ordered = sorted(
            sums.items(),
            key=lambda item: (-item[1] if query["descending"] else item[1], json.dumps(item[0])),
        )
        rows = []
        for key, value in ordered:
            result = dict(zip(dimensions, key, strict=True))
            result.update({field: stamp for field in stamp_fields})
            result[query["aggregation"]] = value
            rows.append({"timestamp": stamp, "result": result})
        buckets.append(rows)
    return buckets


def zoned_day_start(day: dt.date, zone: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(dt.timezone.utc)


def day_events(
    sandbox: Sandbox, app_id: str, source: str, day: dt.date, zone: zoneinfo.ZoneInfo
) -> t.Iterator[dict]:
    """The events of `source` on the dashboard day `day` that have happened by `now`: the v3
    tables' rows of the UTC days it overlaps, and the late events that have arrived."""
    topic = DATA_SOURCES[source]
    if topic is None:
        return
    first, last = zoned_day_start(day, zone), zoned_day_start(day + dt.timedelta(days=1), zone)
    last = min(last, now(sandbox))
    utc_days = {first.date(), (last - dt.timedelta(microseconds=1)).date()}
    for utc_day in sorted(utc_days):
        for values in v3_events(sandbox, app_id, utc_day, topic):
            if (
                first
                <= dt.datetime.fromtimestamp(values["timestamp"] / 1000, dt.timezone.utc)
                < last
            ):
                yield values
    if sandbox.today() >= day + dt.timedelta(days=2):
        yield from late_events(sandbox, app_id, day, topic, first)


def v3_events(sandbox: Sandbox, app_id: str, day: dt.date, topic: str) -> list[dict]:
    """The rows Daily Exports v3 serves for a UTC day and topic (as `daily_v3.file_bytes`
    makes them), cached: a week's query reads each day several times."""
    cache = sandbox.state.setdefault("query_api_events", {})
    key = (app_id, day, topic, daily_v3.rows_for_day(sandbox, app_id, day, topic))
    if key not in cache:
        seed = sandbox.config.seed
        rows = []
        for number in range(key[3]):
            rng = syn.rng_for(seed, app_id, day, topic, number, "v3-row")
            rows.append(
                event_values(
                    rng, seed, app_id, topic, syn.moment_in_day(rng, day), f"{day}:{number}"
                )
            )
        if len(cache) > 500:
            cache.clear()
        cache[key] = rows
    return cache[key]


def late_events(
    sandbox: Sandbox, app_id: str, day: dt.date, topic: str, first: dt.datetime
) -> t.Iterator[dict]:
    seed = sandbox.config.seed
    for number in range(int(sandbox.option("query_late_events", 0))):
        rng = syn.rng_for(seed, app_id, day, topic, number, "late")
        moment = first + dt.timedelta(milliseconds=rng.randrange(86_400_000 - 3_600_000))
        yield event_values(rng, seed, app_id, topic, moment, f"late:{day}:{number}")


def dimension_value(sandbox: Sandbox, value: t.Any) -> t.Any:
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if value is None or value == "":
        return "" if sandbox.option("query_empty_value", "null") == "empty_string" else None
    return value


def _passes(values: dict, filters: dict[str, list[str]]) -> bool:
    for key, allowed in filters.items():
        value = values.get(key.removeprefix("!"))
        text = (
            str(value).lower() if isinstance(value, bool) else "" if value is None else str(value)
        )
        if (text in allowed) == key.startswith("!"):
            return False
    return True


def _iso(moment: dt.datetime) -> str:
    return syn.iso(moment)
