"""Query API (analytics-apis.md, section 1): one stream `query_<name>` per configured report.

Per app (`tap_branch.config.apps`) and window of at most 7 days (`end_date` exclusive), one
`POST {api2_url}/v1/query/analytics` with the app's `branch_key`/`branch_secret` in the body,
then every page Branch links (`paging.next_url`, carrying its `query_id` and `after`), the
same body re-sent. A window whose rows do not add up to `paging.total_count`, repeat a day
and dimension values, or hold a bucket outside the window fails naming the window.

Branch's numbers for a day keep changing after it ends (late events, attribution windows,
fraud). Each run therefore re-reads the last `query_settle_days` complete days, and the
bookmark (per app, a day in the dashboard time zone) only passes days older than that;
targets upsert the corrections on the primary key.

Every call passes the shared limiter `query` (Branch: 5/s, 20/min, 150/h per organization);
a 429, or Branch's `error_code: 7` body with any status, is waited out (`BranchStream`).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import typing as t
from functools import cached_property
from urllib.parse import parse_qsl, urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.api import date_windows
from tap_branch.api.auth import BranchKeyAuthenticator
from tap_branch.api.ratelimit import configured_limiter, limit_settings
from tap_branch.api.stream import Branch2Stream
from tap_branch.config.apps import app_partitions, configured_apps, find_app, secret_setting
from tap_branch.config.credentials import KEY_AND_SECRET
from tap_branch.config.errors import parse_date
from tap_branch.config.probes import Probe, deselect_advice
from tap_branch.errors import RateLimitedError, describe_response, json_answer, retry_after_seconds
from tap_branch.output.sdk_internals import sibling_streams
from tap_branch.records.items import Checkpoint
from tap_branch.streams.analytics import catalog, reports, zones
from tap_branch.streams.analytics.cache import AnalyticsCache

PATH = "/v1/query/analytics"
RATE_LIMITED_CODE = 7  # Branch's `errors[].error_code` for "Limit is exceeded ..."
_ERROR_BODY_BYTES = 4096  # an error body is far shorter

SETTINGS = [
    th.Property(
        reports.SETTING,
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "name", th.StringType, required=True, description="Stream: query_<name>."
                ),
                th.Property(
                    "data_source",
                    th.StringType,
                    required=True,
                    description="eo_install, eo_open, eo_click, xx_click, cost, ...",
                ),
                th.Property(
                    "aggregation",
                    th.StringType,
                    required=True,
                    description="unique_count, total_count, revenue, cost or cost_in_local_currency.",
                ),
                th.Property(
                    "dimensions",
                    th.ArrayType(th.StringType),
                    required=True,
                    description=f"1 to {catalog.MAX_DIMENSIONS} dimensions to group by.",
                ),
                th.Property(
                    "filters",
                    th.ObjectType(additional_properties=True),
                    description="{dimension: [values]} ('!dimension' excludes): AND across "
                    "dimensions, OR within one.",
                ),
                th.Property("granularity", th.StringType, description="day (the only one)."),
                th.Property("zero_fill", th.BooleanType),
                th.Property("enable_install_recalculation", th.BooleanType),
            )
        ),
        description="Query API reports, each its own stream query_<name>. Default: one report "
        "'installs' (unique installs by campaign, channel, ad partner and OS, per day).",
    ),
    th.Property(
        "query_settle_days",
        th.IntegerType(minimum=0),
        default=7,
        description="Complete days re-read by every run, because Branch still corrects them; "
        "the bookmark passes only older days.",
    ),
    th.Property(
        "query_page_limit",
        th.IntegerType(minimum=1, maximum=catalog.PAGE_LIMIT),
        default=catalog.PAGE_LIMIT,
        description="`limit` of every Query API request (rows per day and page; Branch's maximum 1000).",
    ),
    *limit_settings(
        "query",
        catalog.DEFAULT_RATE_LIMITS,
        limits="Client-side limits for the Query API, all enforced at once. Default: "
        "{defaults} (Branch's, per organization).",
        margin="Seconds added to every Query API rate-limit window (besides 0.1% of it).",
    ),
    *zones.SETTINGS,
]

Window = tuple[dt.date, dt.date]  # first day, day after the last (Branch's exclusive end)


class QueryStream(Branch2Stream):
    """One Query API report: a record per app, day and dimension values."""

    credentials = KEY_AND_SECRET
    replication_key = "date"
    bookmarks_per_record = False  # settled, completed windows move it (`get_records`)
    is_sorted = False

    #: Whom a partition's numbers are for: its app (Aggregate Exports may ask per organization).
    scope = "app_id"
    #: The API in messages and the run's estimate, and the calls a window costs at least.
    api_title = "Query API"
    calls_per_window = 1
    calls_note = "one per report, app and 7-day window, more for pages"

    def __init__(self, tap: t.Any, report: reports.QueryReport) -> None:
        self.report = report
        super().__init__(tap, schema=reports.schema(report, self.scope), name=report.stream_name)
        self.primary_keys = reports.primary_keys(report, self.scope)

    @property
    def partitions(self) -> list[dict]:
        return app_partitions(self.config)

    @cached_property
    def limiter(self):
        return configured_limiter(
            self.caches, self.config, "query", catalog.DEFAULT_RATE_LIMITS, self.logger
        )

    #: The setting of the days re-read by every run.
    settle_setting = "query_settle_days"

    @property
    def settle_days(self) -> int:
        value = self.config.get(self.settle_setting)
        return 7 if value is None else int(value)

    @property
    def page_limit(self) -> int:
        return int(self.config.get("query_page_limit") or catalog.PAGE_LIMIT)

    # --- dates ----------------------------------------------------------------------

    def plan(self, context: dict, *, warn: bool = True) -> tuple[list[Window], dt.date]:
        """The windows this run reads for the app of `context`, and the last settled day
        (the bookmark never passes it). Days are the app's dashboard days."""
        zone = zones.zone_of(self.config, context[self.scope])
        today = zones.local_today(zone, clock.now())
        last = today - dt.timedelta(days=1)  # the last complete day
        if self.config.get("end_date"):
            last = min(last, parse_date(str(self.config["end_date"]), "end_date"))
        settled = today - dt.timedelta(days=1 + self.settle_days)
        start = parse_date(str(self.config["start_date"]), "start_date")
        origin = "start_date"
        bookmark = self._bookmark(context)
        if bookmark is not None:
            resume = min(bookmark, settled) + dt.timedelta(days=1)
            if resume > start:
                start, origin = resume, "the day after the bookmark"
        oldest = oldest_day(today, clock.now())
        if start < oldest:
            if warn:
                self.logger.warning(
                    "%s (%s): %s (%s) is beyond Branch's rolling %d-year %s window; "
                    "starting at %s instead.",
                    self.name,
                    owner_label(context),
                    origin,
                    start,
                    catalog.LOOKBACK_YEARS,
                    self.api_title,
                    oldest,
                )
            start = oldest
        return windows(start, last), settled

    def _bookmark(self, context: dict) -> dt.date | None:
        if self.name not in (self.tap_state.get("bookmarks") or {}):
            return None
        value = self.get_context_state(context).get("replication_key_value")
        return parse_date(str(value), "state") if value else None

    # --- sync -----------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        assert context is not None  # partitioned by app
        self._announce_run()
        planned, settled = self.plan(context, warn=True)
        if not planned:
            self.logger.info("%s (app %s) is up to date.", self.name, context["app_id"])
            return
        bookmark = self._bookmark(context)
        for window in planned:
            yield from self._uncut_window_records(context["app_id"], window)
            done = min(window[1] - dt.timedelta(days=1), settled)
            if bookmark is None or done > bookmark:
                bookmark = done
                yield Checkpoint(bookmark=done.isoformat())
        self.logger.info(
            "%s (app %s): %s..%s read; days after %s are re-read next run (%s %d).",
            self.name,
            context["app_id"],
            planned[0][0],
            planned[-1][1] - dt.timedelta(days=1),
            settled,
            self.settle_setting,
            self.settle_days,
        )

    def _announce_run(self) -> None:
        """Once per run and API: the calls every selected stream of this API needs (they
        share its limiter), against the hour's budget."""
        announced = self.caches.of(AnalyticsCache).announced
        if self.api_title in announced:
            return
        announced.add(self.api_title)
        windows = 0
        for stream in sibling_streams(self):
            if type(stream) is type(self) and stream.selected:
                for context in stream.partitions:
                    windows += len(stream.plan(context, warn=False)[0])
        calls = windows * self.calls_per_window
        budget = self.limiter.budget(3600)
        self.logger.info(
            "%s: about %d call(s) this run (%s); the rate limits allow %d in the next hour.",
            self.api_title,
            calls,
            self.calls_note,
            budget,
        )
        if calls > budget:
            self.logger.warning(
                "%s: about %d calls needed but the rate limits allow %d in the next hour; "
                "this run will take at least %.1f hours (estimate).",
                self.api_title,
                calls,
                budget,
                self.limiter.seconds_for(calls) / 3600,
            )

    def _uncut_window_records(self, app_id: str, window: Window) -> t.Iterator[dict]:
        """Every record of one window; asked again in halves when its rows reach Branch's
        row cap (they may be cut), a single day at the cap failing, naming the day."""
        try:
            yield from self._window_records(app_id, window)
        except _WindowAtRowCap as capped:
            first, after_last = window
            if after_last - first <= dt.timedelta(days=1):
                raise FatalAPIError(
                    f"{capped.label}: Branch's paging.total_count is {capped.total}, its cap of "
                    f"{catalog.ROW_CAP} rows per query: rows of {first} may be cut off and a day "
                    "cannot be split further. Use fewer dimensions or filters in this report."
                ) from None
            self.logger.info(
                "%s: %d rows reach Branch's cap of %d; asking again in halves.",
                capped.label,
                capped.total,
                catalog.ROW_CAP,
            )
            last = after_last - dt.timedelta(days=1)
            for half_first, half_last in date_windows.halves(first, last):
                yield from self._uncut_window_records(
                    app_id, (half_first, half_last + dt.timedelta(days=1))
                )

    def _window_records(self, app_id: str, window: Window) -> t.Iterator[dict]:
        """Every record of one window, every page followed and checked (`_WindowAtRowCap`
        before any record when its rows reach Branch's cap)."""
        app = find_app(self.config, app_id)
        zone = zones.zone_of(self.config, app_id)
        first, after_last = window
        label = f"{self.name} (app {app_id}), window {first}..{after_last - dt.timedelta(days=1)}"
        body = self.report.body(first, after_last)
        auth = BranchKeyAuthenticator(app, location="json")
        params: dict[str, t.Any] = {"limit": self.page_limit}
        seen_pages: set[tuple] = set()
        seen_keys: set[tuple] = set()
        rows = 0
        page = 0
        while True:
            page += 1
            response = self.send(
                "POST",
                PATH,
                what=f"{label}, page {page}",
                params=params,
                json=body,
                auth=auth,
                limiter=self.limiter,
            )
            answer = json_answer(response, f"{label}, page {page}")
            results, paging = _page_parts(answer, label, page)
            total = paging.get("total_count")
            if page == 1 and _is_count(total) and total >= catalog.ROW_CAP:
                raise _WindowAtRowCap(label, total)
            for item in results:
                record = self._record(item, {"app_id": app_id}, zone, window, label)
                key = tuple(record.get(k) for k in self.primary_keys)
                if key in seen_keys:
                    raise FatalAPIError(
                        f"{label}: Branch sent the row {_describe_key(self.primary_keys, key)} "
                        f"twice (page {page}): the pages overlap or empty and null values "
                        "were both sent; the run stops before its bookmark passes the window."
                    )
                seen_keys.add(key)
                rows += 1
                yield record
            next_url = paging.get("next_url")
            if not next_url:
                if not _is_count(total):
                    raise FatalAPIError(
                        f"{label}: Branch's last page has no paging.total_count to check the "
                        f"{rows} rows read against: {json.dumps(paging)[:200]}"
                    )
                if total != rows:
                    raise FatalAPIError(
                        f"{label}: the {page} page(s) held {rows} rows but Branch's "
                        f"paging.total_count is {total}: rows are missing or repeated; the run "
                        "stops before its bookmark passes the window."
                    )
                return
            params = _next_params(next_url, label)
            marker = tuple(sorted(params.items()))
            if marker in seen_pages:
                raise FatalAPIError(f"{label}: Branch links page {page} to a page already read.")
            seen_pages.add(marker)

    def _record(
        self, item: t.Any, owner: dict[str, t.Any], zone: t.Any, window: Window, label: str
    ) -> dict[str, t.Any]:
        """One result row as a record; `owner`: the fields naming whom it counts (its app, or
        its organization and no app), a dimension `app_id` overriding the app."""
        if not isinstance(item, dict) or not isinstance(item.get("result"), dict):
            raise FatalAPIError(
                f"{label}: a result is not {{timestamp, result: {{...}}}}: {_excerpt(item)}"
            )
        try:
            moment = clock.parse_moment(item.get("timestamp"))
        except (ValueError, TypeError):
            raise FatalAPIError(
                f"{label}: a result's timestamp is not a date-time: {_excerpt(item)}"
            ) from None
        day = moment.astimezone(zone).date()
        if moment != zones.day_start(day, zone):
            raise FatalAPIError(
                f"{label}: Branch's day bucket {item['timestamp']} is not a midnight in {zone.key}, "
                f"the zone set for {owner_label(owner)}: set 'dashboard_time_zones' (or "
                "'dashboard_time_zone') to its zone in the Branch dashboard."
            )
        if not window[0] <= day < window[1]:
            raise FatalAPIError(
                f"{label}: Branch sent a bucket for {day} ({item['timestamp']}), outside the window."
            )
        result = item["result"]
        record: dict[str, t.Any] = {
            "report": self.report.name,
            **owner,
            "date": day.isoformat(),
            "timestamp": moment.isoformat(),
        }
        for dimension in self.report.dimensions:
            if dimension not in result:
                raise FatalAPIError(
                    f"{label}: a result of {day} lacks dimension {dimension}: {_excerpt(item)}"
                )
            record[dimension] = _dimension_value(
                result[dimension], self.report.api.dimensions[dimension], dimension, label
            )
        record[reports.DIMENSIONS_KEY] = reports.dimensions_key(
            [record[d] for d in self.report.dimensions]
        )
        aggregation = self.report.aggregation
        record[aggregation] = _aggregate_value(
            result.get(aggregation),
            self.report.api.aggregations[aggregation],
            aggregation,
            label,
            item,
        )
        extra = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in result.items()
            if k not in record
        }
        if extra:
            record["extra_columns"] = extra
        return record

    def validate_response(self, response: t.Any) -> None:
        """Branch's `error_code: 7` body ("Limit is exceeded ..., retry after N seconds") is a
        rate limit whatever its HTTP status, 2xx included (Branch documents the body, not the
        status)."""
        if response.status_code != 429 and _rate_limited(response):
            raise RateLimitedError(describe_response(response), retry_after_seconds(response))
        super().validate_response(response)


def owner_label(owner: t.Mapping[str, t.Any]) -> str:
    """`app <id>` or `organization <id>`, for messages: whom a partition (or record) is for."""
    if owner.get("organization_id"):
        return f"organization {owner['organization_id']}"
    return f"app {owner['app_id']}"


class _WindowAtRowCap(Exception):
    """A window's `total_count` reached Branch's row cap (raised before any of its records)."""

    def __init__(self, label: str, total: int) -> None:
        super().__init__(label)
        self.label, self.total = label, total


def _is_count(value: t.Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def windows(start: dt.date, last: dt.date) -> list[Window]:
    """Days start..last as windows of at most 7 days, each (first day, day after its last)."""
    result = []
    while start <= last:
        end = min(start + dt.timedelta(days=catalog.MAX_WINDOW_DAYS), last + dt.timedelta(days=1))
        result.append((start, end))
        start = end
    return result


def oldest_day(local_today: dt.date, now: dt.datetime) -> dt.date:
    """The oldest day a query may start on: Branch's rolling 2 years, counted from the later of
    the dashboard's and UTC's today (Branch does not say which it uses), plus a day's margin
    (as cohorts: midnight may pass before the first call, waiting for the hour's budget)."""
    today = max(local_today, now.astimezone(dt.timezone.utc).date())
    rolling = _years_before(today, catalog.LOOKBACK_YEARS) + dt.timedelta(days=1)
    return max(catalog.EARLIEST_DAY, rolling)


def _years_before(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _page_parts(answer: dict, label: str, page: int) -> tuple[list, dict]:
    results = answer.get("results")
    paging = answer.get("paging")
    if not isinstance(results, list) or not isinstance(paging, dict):
        raise FatalAPIError(
            f"{label}, page {page}: Branch's answer is not {{results: [...], paging: {{...}}}}: "
            f"{_excerpt(answer)}"
        )
    return results, paging


def _next_params(next_url: t.Any, label: str) -> dict[str, str]:
    """The query of Branch's `next_url` (its `query_id`, `limit`, `after`), sent to our own
    host: the secret goes nowhere Branch's answer points to."""
    parts = urlsplit(str(next_url))
    if not parts.path.rstrip("/").endswith(PATH):
        raise FatalAPIError(f"{label}: Branch's paging.next_url is no Query API page: {next_url}")
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    params.pop("branch_key", None)
    params.pop("branch_secret", None)
    return params


def _rate_limited(response: t.Any) -> bool:
    if len(response.content) > _ERROR_BODY_BYTES:
        return False  # a page of rows: not parsed twice
    try:
        errors = response.json().get("errors")
    except (ValueError, AttributeError):
        return False
    return isinstance(errors, list) and any(
        isinstance(e, dict) and e.get("error_code") == RATE_LIMITED_CODE for e in errors
    )


def _dimension_value(value: t.Any, kind: str, dimension: str, label: str) -> t.Any:
    if value is None or value == "":
        return None  # Branch's empty value
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
    elif kind == "integer":
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            return int(value)
    elif isinstance(value, str):
        return value
    elif isinstance(value, (int, float, list)):
        return value if isinstance(value, str) else json.dumps(value)
    raise FatalAPIError(f"{label}: dimension {dimension} holds {value!r}, not a {kind}.")


def _aggregate_value(value: t.Any, kind: str, name: str, label: str, item: t.Any) -> t.Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FatalAPIError(f"{label}: a result has no numeric {name}: {_excerpt(item)}")
    if kind == "integer":
        if isinstance(value, float) and not value.is_integer():
            raise FatalAPIError(f"{label}: {name} {value} is not a whole number: {_excerpt(item)}")
        return int(value)
    return value


def _describe_key(names: t.Sequence[str], key: tuple) -> str:
    return ", ".join(
        f"{n}={v}"
        for n, v in zip(names, key, strict=True)
        if n not in ("report", "app_id", "organization_id")
    )


def _excerpt(value: t.Any) -> str:
    return json.dumps(value, default=str)[:300]


def probes(tap: t.Any, streams: list, *, first_run: bool) -> list[Probe]:
    """The family's connection probes: per app with a secret, one Query API call for its last
    complete day with `limit=1` (one call of Branch's 150 an hour; no job, no export).
    Aggregate Exports have no read-only call (a job is created, then polled): their first job
    is the check, as for cohorts."""
    query = [s for s in streams if type(s) is QueryStream]  # not Aggregate Exports (a subclass)
    if not query:
        return []
    stream = query[0]
    return [
        Probe(
            credential=f"branch_key/branch_secret of app {app.app_id}",
            setting=secret_setting(tap.config, app.app_id),
            asks=f"the Query API probe of app {app.app_id}",
            call=functools.partial(_probe_app, stream, app),
            product="the Query API",
            avoid=deselect_advice(query),
            streams=tuple(query),
            asked=app.app_id,
            url_setting="api2_url",
        )
        for app in configured_apps(tap.config)
        if app.branch_secret
    ]


def _probe_app(stream: QueryStream, app: t.Any) -> None:
    zone = zones.zone_of(stream.config, app.app_id)
    day = zones.local_today(zone, clock.now()) - dt.timedelta(days=1)
    response = stream.send(
        "POST",
        PATH,
        what=f"the Query API probe of app {app.app_id} ({day})",
        params={"limit": 1},
        json=stream.report.body(day, day + dt.timedelta(days=1)),
        auth=BranchKeyAuthenticator(app, location="json"),
        limiter=stream.limiter,
    )
    json_answer(response, f"the Query API probe of app {app.app_id}")


def build_streams(tap: t.Any) -> list[QueryStream]:
    zones.check_zones(tap.config)
    return [QueryStream(tap, report) for report in reports.reports_from_config(tap.config)]
