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

Up to `aggregate_max_concurrent_jobs` windows are in flight at once, on the polling loop
cohorts use (`tap_branch.api.jobs`), every call paced by the shared limiter `aggregate`; results
are read in the order their jobs finish. Rows become records as the Query API's do
(`QueryStream._record`: the day in the dashboard zone, typed dimensions, `dimension_values`),
with the same settling window (`aggregate_settle_days`); the bookmark passes a window's days
only once every earlier window is done.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import functools
import tempfile
import typing as t
from functools import cached_property

import msgspec
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.date_windows import halves
from tap_branch.api.ratelimit import configured_limiter
from tap_branch.config.apps import scope_field, v2_app_ids
from tap_branch.errors import DownloadError, json_answer
from tap_branch.files.downloads import FileReader, file_label
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.records.items import Checkpoint
from tap_branch.streams.analytics import catalog, reports, zones
from tap_branch.streams.analytics.query import QueryStream, Window, owner_label

PATH = "/v2/analytics"

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
    th.Property(
        "aggregate_rate_limits",
        th.ArrayType(
            th.ObjectType(
                th.Property("requests", th.IntegerType(minimum=1), required=True),
                th.Property("seconds", th.NumberType(exclusive_minimum=0), required=True),
            )
        ),
        description="Client-side limits for Aggregate Exports. Default: 2/1 s, 5/60 s, 150/3600 s.",
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
    def credentials_needed(self) -> str:
        return "v2" if self.scope == "organization_id" else "v2-app"

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
            self.config, "aggregate", catalog.AGGREGATE_RATE_LIMITS, self.logger
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
        work = collections.deque(planned)
        finished = jobs.run(
            self.polling,
            work,
            submit=lambda window: self._submit(scope, window),
            check=lambda job: self._check(scope, job.job_id, job.label),
            timed_out=lambda job, status, waited: FatalAPIError(
                f"{job.label}: Branch's job is still {status} after {waited:.0f} s "
                f"(aggregate_job_timeout {self.polling.timeout:g} s)."
            ),
            most=self.max_jobs,
        )
        for job, url in finished:
            first, after_last = window = job.work
            spool, rows = self._spool(scope, job, url)
            if rows >= self.record_limit:
                spool.close()
                last = after_last - dt.timedelta(days=1)
                if first == last:
                    raise FatalAPIError(
                        f"{job.label}: day {first} alone returned {rows} rows, the record limit "
                        f"(aggregate_record_limit {self.record_limit}): Branch may have cut rows; "
                        "give the report fewer dimensions or filters (split it into several)."
                    )
                self.logger.info(
                    "%s returned %d rows, the limit: asking in halves.", job.label, rows
                )
                parts = [(a, b + dt.timedelta(days=1)) for a, b in halves(first, last)]
                work.extendleft(reversed(parts))
                continue
            yield window, self._replay(spool, scope, window, job.label)

    def _label(self, scope: dict[str, str], window: Window) -> str:
        first, after_last = window
        return f"{self.name} ({owner_label(scope)}), window {first}..{after_last - dt.timedelta(days=1)}"

    def _spool(self, scope: dict[str, str], job: jobs.Job, url: str) -> tuple[t.IO[bytes], int]:
        """The finished job's result rows in a temporary file (memory stays flat; whether the
        result reached the limit is known only at its end), and their count."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _replay or the caller
        encode = msgspec.json.Encoder().encode
        rows = 0
        try:
            try:
                for row in FileReader(self).items(
                    url,
                    self._parser,
                    refresh=lambda: self._finished_url(scope, job.job_id, job.label),
                ):
                    rows += 1
                    spool.write(encode(row) + b"\n")
            except DownloadError as exc:  # retried already: its error names the file
                raise DownloadError(f"{job.label}: the result: {exc}") from None
            except ValueError as exc:
                raise FatalAPIError(
                    f"{job.label}: the result ({file_label(url)}) is not readable: {exc}"
                ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, rows

    def _replay(
        self, spool: t.IO[bytes], scope: dict[str, str], window: Window, label: str
    ) -> t.Iterator[dict]:
        zone = zones.zone_of(self.config, scope[self.scope])
        # Per organization Branch sums its apps: no app unless the report has dimension app_id.
        owner = (
            {"organization_id": scope[self.scope], "app_id": None}
            if self.scope == "organization_id"
            else scope
        )
        decode = msgspec.json.Decoder().decode
        seen: set[tuple] = set()
        with spool:
            for line in spool:
                row = decode(line)
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

    @property
    def _parser(self) -> t.Callable[[t.IO[bytes]], t.Iterator[dict]]:
        if self.result_format == "json":
            return json_array_items
        return functools.partial(csv_dicts, key_columns=("timestamp", self.report.aggregation))

    def _call(
        self, method: str, path: str, scope: dict[str, str], what: str, **kwargs: t.Any
    ) -> dict:
        params = {**scope, **(kwargs.pop("params", None) or {})}
        response = self.send(method, path, what=what, params=params, limiter=self.limiter, **kwargs)
        return json_answer(response, what)

    def _submit(self, scope: dict[str, str], window: Window) -> jobs.Job[Window]:
        """Submit one window's job; the job, its first poll scheduled."""
        label = self._label(scope, window)
        answer = self._call(
            "POST",
            PATH,
            scope,
            f"{label}: submitting its job",
            params={"limit": self.record_limit, "format": self.result_format},
            json=self.report.body(*window),
        )
        job_id = answer.get("job_id")
        if not job_id:
            raise FatalAPIError(
                f"{label}: Branch accepted no job: {answer.get('error_message') or answer}"
            )
        return self.polling.start(window, str(job_id), f"{label}, job {job_id}")

    def _check(self, scope: dict[str, str], job_id: str, label: str) -> str | jobs.Pending:
        # The job's own path on the configured host, never `status_url`: the token goes nowhere else.
        answer = self._call("GET", f"{PATH}/{job_id}", scope, f"{label}: polling it")
        status = str(answer.get("status") or "").strip().upper()
        if status == "FINISHED":
            if not answer.get("response_url"):
                raise FatalAPIError(f"{label}: FINISHED without a response_url")
            return str(answer["response_url"])
        if status == "ERROR":
            raise FatalAPIError(
                f"{label}: Branch's job failed: {answer.get('error_message') or 'no message'}"
            )
        if status in ("QUEUED", "RUNNING", ""):
            return jobs.Pending(status or "pending")
        raise FatalAPIError(f"{label}: the job has an unknown status {status!r}")

    def _finished_url(self, scope: dict[str, str], job_id: str, label: str) -> str:
        answer = self._check(scope, job_id, label)
        if isinstance(answer, jobs.Pending):
            raise FatalAPIError(f"{label}: the job no longer offers its result")
        return answer


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
