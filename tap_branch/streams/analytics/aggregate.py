"""Aggregate Exports (analytics-apis.md, section 2): one stream `aggregate_<name>` per report
of setting `aggregate_reports`, the asynchronous counterpart of the Query API.

Per scope (the organization when `organization_id` is set, as for cohorts, else every app by
its `app_id`: a v2 API) and window of at most 7 days (`end_date` exclusive, as the Query
API's and the documented result file name `2023-05-12-2023-05-19-...` read), a job:
`POST {api2_url}/v2/analytics?app_id=|organization_id=&limit=&format=` with the report as
JSON body and the `Access-Token` header, polled at `GET /v2/analytics/<job_id>` until
FINISHED, then the signed result file (CSV or JSON, `tap_branch.files.result_files`) spooled to
disk and counted: a window whose result reaches the record limit may be cut, so it is asked
again in halves (`tap_branch.api.date_windows`), and a single day at the limit fails naming it.

Each window is an `AggregateJob` (`aggregate_job`). Up to `aggregate_max_concurrent_jobs` are
in flight at once, submitted and polled by a `JobScheduler` (`tap_branch.api.job_scheduler`,
as cohorts are) in a background thread for the partition syncing, every call paced by the
shared limiter `aggregate`; results are read in the order their jobs finish. Rows become records as the Query API's do
(`QueryStream._record`: the day in the dashboard zone, typed dimensions, `dimension_values`),
with the same settling window (`aggregate_settle_days`); the bookmark passes a window's days
only once every earlier window is done.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.job_scheduler import JobScheduler
from tap_branch.api.ratelimit import configured_limiter, limit_settings
from tap_branch.config.apps import scope_field, v2_app_ids
from tap_branch.config.credentials import ACCESS_TOKEN, ACCESS_TOKEN_WITH_APP, Credential
from tap_branch.files.downloads import FileReader
from tap_branch.records.items import Checkpoint
from tap_branch.streams.analytics import catalog, reports, zones
from tap_branch.streams.analytics.aggregate_job import AggregateApi, AggregateJob
from tap_branch.streams.analytics.query import QueryStream, Window, owner_label

SETTINGS = [
    th.Property(
        reports.AGGREGATE_SETTING,
        th.ArrayType(
            th.ObjectType(
                th.Property("name", th.StringType, required=True, description="aggregate_<name>."),
                th.Property("data_source", th.StringType, required=True),
                th.Property("aggregation", th.StringType, required=True),
                th.Property("dimensions", th.ArrayType(th.StringType), required=True),
                th.Property("filters", th.ObjectType(additional_properties=True)),
                th.Property("granularity", th.StringType, description="day (the only one)."),
                th.Property("enable_install_recalculation", th.BooleanType),
            )
        ),
        description="Aggregate Exports reports (asynchronous jobs), each its own stream "
        "aggregate_<name>; fields as query_reports. None by default.",
    ),
    th.Property(
        "aggregate_settle_days",
        th.IntegerType(minimum=0),
        default=7,
        description="Complete days every run re-reads for the aggregate_* streams.",
    ),
    th.Property(
        "aggregate_format",
        th.StringType,
        default="csv",
        allowed_values=["csv", "json"],
        description="Result format to request (Branch's default is csv).",
    ),
    th.Property(
        "aggregate_record_limit",
        th.IntegerType(minimum=1, maximum=catalog.AGGREGATE_RECORD_LIMIT),
        default=catalog.AGGREGATE_RECORD_LIMIT,
        description="`limit` of every Aggregate Exports job; a window whose result reaches it "
        "is asked again in halves.",
    ),
    th.Property(
        "aggregate_poll_interval",
        th.NumberType(exclusive_minimum=0),
        default=5,
        description="Seconds before a job's first poll; each further wait grows by half (to 60 s).",
    ),
    th.Property(
        "aggregate_max_concurrent_jobs",
        th.IntegerType(minimum=1),
        default=5,
        description="Aggregate Exports jobs in flight at once (submitted before polling), "
        "within aggregate_rate_limits.",
    ),
    th.Property(
        "aggregate_job_timeout",
        th.NumberType(exclusive_minimum=0),
        default=3600,
        description="Seconds an Aggregate Exports job may take before the run fails.",
    ),
    *limit_settings(
        "aggregate",
        catalog.AGGREGATE_RATE_LIMITS,
        limits="Client-side limits for Aggregate Exports. Default: {defaults}.",
    ),
]


#: Calls a window's job is expected to cost (its submission and polls), for the estimate.
CALLS_PER_WINDOW = 3


class AggregateStream(QueryStream):
    """One Aggregate Exports report: a record per app (or organization), day and dimension
    values."""

    refused_credential_setting = "setting 'access_token'"
    settle_setting = "aggregate_settle_days"
    api_title = "Aggregate Exports"
    calls_per_window = CALLS_PER_WINDOW
    calls_note = (
        "a job per report, app or organization and 7-day window: its submission and about "
        "two polls; more for windows asked again in halves"
    )

    def __init__(self, tap: t.Any, report: reports.QueryReport) -> None:
        self.scope = scope_field(tap.config)
        super().__init__(tap, report)

    @property
    def credentials(self) -> Credential:
        return ACCESS_TOKEN if self.scope == "organization_id" else ACCESS_TOKEN_WITH_APP

    @property
    def partitions(self) -> list[dict]:
        if self.scope == "organization_id":
            return [{"organization_id": str(self.config["organization_id"])}]
        return [{"app_id": app_id} for app_id in v2_app_ids(self.config, [self.name])]

    @cached_property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(self.config.get("access_token") or "")

    @cached_property
    def limiter(self):
        return configured_limiter(
            self.caches, self.config, "aggregate", catalog.AGGREGATE_RATE_LIMITS, self.logger
        )

    @property
    def record_limit(self) -> int:
        return int(self.config.get("aggregate_record_limit") or catalog.AGGREGATE_RECORD_LIMIT)

    @property
    def result_format(self) -> str:
        return str(self.config.get("aggregate_format") or "csv").lower()

    @property
    def max_jobs(self) -> int:
        return int(self.config.get("aggregate_max_concurrent_jobs") or 5)

    @cached_property
    def polling(self) -> jobs.Polling:
        interval = float(self.config.get("aggregate_poll_interval") or 5)
        return jobs.Polling(
            first_wait=interval,
            wait=interval,
            growth=1.5,
            longest_wait=60.0,
            timeout=float(self.config.get("aggregate_job_timeout") or 3600),
        )

    # --- sync -----------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        assert context is not None  # partitioned by app or organization
        self._announce_run()
        planned, settled = self.plan(context, warn=True)
        who = owner_label(context)
        if not planned:
            self.logger.info("%s (%s) is up to date.", self.name, who)
            return
        bookmark = self._bookmark(context)
        finished: dict[dt.date, dt.date] = {}  # windows read, first day -> day after the last
        frontier = planned[0][0]  # every day before it is read
        for window, records in self._results(context, planned):
            yield from records
            finished[window[0]] = window[1]
            while frontier in finished:
                frontier = finished.pop(frontier)
            done = min(frontier - dt.timedelta(days=1), settled)
            if frontier > planned[0][0] and (bookmark is None or done > bookmark):
                bookmark = done
                yield Checkpoint(bookmark=done.isoformat())
        self.logger.info(
            "%s (%s): %s..%s read; days after %s are re-read next run (%s %d).",
            self.name,
            who,
            planned[0][0],
            planned[-1][1] - dt.timedelta(days=1),
            settled,
            self.settle_setting,
            self.settle_days,
        )

    def _results(
        self, scope: dict[str, str], planned: list[Window]
    ) -> t.Iterator[tuple[Window, t.Iterator[dict]]]:
        """(window, its records) for every window, in the order their jobs finish, up to
        `max_jobs` in flight; a window whose result reaches the limit is asked again in
        halves (queued first), and a single day at the limit fails naming it."""
        api = AggregateApi(
            self.send,
            self.limiter,
            FileReader(self),
            self.logger,
            self.name,
            self.report,
            self.record_limit,
            self.result_format,
            self.polling.timeout,
        )
        queued = [AggregateJob(api, scope, window) for window in planned]
        # A scheduler of this partition's jobs alone: its thread ends with the partition.
        scheduler = JobScheduler(self.polling, self.max_jobs, name="aggregate jobs")
        owner = queued[0].owner
        try:
            scheduler.plan([(owner, lambda: queued)])
            for job, fetched in scheduler.fetched(owner, queued):
                yield job.key, self._replay(fetched.records, scope, job.key, job.label)
        finally:
            scheduler.stop()

    def _replay(
        self, rows: t.Iterator[dict], scope: dict[str, str], window: Window, label: str
    ) -> t.Iterator[dict]:
        zone = zones.zone_of(self.config, scope[self.scope])
        # Per organization Branch sums its apps: no app unless the report has dimension app_id.
        owner = (
            {"organization_id": scope[self.scope], "app_id": None}
            if self.scope == "organization_id"
            else scope
        )
        seen: set[tuple] = set()
        for row in rows:
            if "timestamp" not in row:
                raise FatalAPIError(f"{label}: a result row has no timestamp: {row}")
            item = {
                "timestamp": row.pop("timestamp"),
                "result": _numbers(row, self.report.aggregation),
            }
            record = self._record(item, owner, zone, window, label)
            key = tuple(record.get(k) for k in self.primary_keys)
            if key in seen:
                raise FatalAPIError(f"{label}: the row {key[2:]} comes twice in the result.")
            seen.add(key)
            yield record


def _numbers(row: dict, aggregation: str) -> dict:
    """A CSV row's aggregate as a number (JSON rows have one already); text that is not a
    number stays text, and the record check then fails naming it."""
    value = row.get(aggregation)
    if isinstance(value, str):
        text = value.strip()
        try:
            row[aggregation] = int(text)
        except ValueError:
            with contextlib.suppress(ValueError):
                row[aggregation] = float(text)
    return row


def build_streams(tap: t.Any) -> list[AggregateStream]:
    return [
        AggregateStream(tap, report)
        for report in reports.reports_from_config(tap.config, reports.AGGREGATE)
    ]
