"""Aggregate Exports (analytics-apis.md, section 2): one stream `aggregate_<name>` per report
of setting `aggregate_reports`, the asynchronous counterpart of the Query API.

Per app (by `app_id`: a v2 API) and window of at most 7 days (`end_date` exclusive, as the
Query API's and the documented result file name `2023-05-12-2023-05-19-...` read), a job:
`POST {api2_url}/v2/analytics?app_id=&limit=&format=` with the report as JSON body and the
`Access-Token` header, polled at `GET /v2/analytics/<job_id>` until FINISHED (the loop cohorts
use, `tap_branch.jobs`), then the signed result file (CSV or JSON, `tap_branch.result_files`)
spooled to disk and counted: a window whose result reaches the record limit may be cut, so
it is asked again in halves (`tap_branch.date_windows`), and a single day at the limit fails
naming it. Rows become records as the Query API's do (`QueryStream._record`: the day in the
dashboard zone, typed dimensions, `dimension_values`), with the same settling window
(`aggregate_settle_days`) and bookmark rule.
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

from tap_branch import jobs
from tap_branch.apps import v2_app_ids
from tap_branch.auth import AccessTokenAuthenticator
from tap_branch.date_windows import halves
from tap_branch.downloads import FileReader, file_label
from tap_branch.errors import DownloadError, json_answer
from tap_branch.ratelimit import DEFAULT_MARGIN_SECONDS, shared_limiter
from tap_branch.result_files import csv_dicts, json_array_items
from tap_branch.settings import invalid_setting
from tap_branch.streams.analytics import catalog, reports, zones
from tap_branch.streams.analytics.query import QueryStream, Window

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


class AggregateStream(QueryStream):
    """One Aggregate Exports report: a record per app, day and dimension values."""

    credentials_needed = "v2-app"
    refused_credential_setting = "setting 'access_token'"
    settle_setting = "aggregate_settle_days"

    @property
    def partitions(self) -> list[dict]:
        return [{"app_id": app_id} for app_id in v2_app_ids(self.config, [self.name])]

    @cached_property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(self.config.get("access_token") or "")

    @cached_property
    def limiter(self):
        windows = self.config.get("aggregate_rate_limits")
        parsed = (
            [(int(w["requests"]), float(w["seconds"])) for w in windows]
            if windows
            else catalog.AGGREGATE_RATE_LIMITS
        )
        try:
            return shared_limiter("aggregate", parsed, self.logger, margin=DEFAULT_MARGIN_SECONDS)
        except ValueError as exc:
            raise invalid_setting(f"Setting 'aggregate_rate_limits': {exc}") from None

    @property
    def record_limit(self) -> int:
        return int(self.config.get("aggregate_record_limit") or catalog.AGGREGATE_RECORD_LIMIT)

    @property
    def result_format(self) -> str:
        return str(self.config.get("aggregate_format") or "csv").lower()

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

    def _announce_run(self) -> None:
        """Jobs are few (one per window): the Query API's hourly estimate is not needed."""

    def _window_records(self, app_id: str, window: Window) -> t.Iterator[dict]:
        """The records of one window, its result split in halves while it reaches the limit."""
        todo = collections.deque([window])
        while todo:
            first, after_last = todo.popleft()
            spool, rows, label = self._spool(app_id, (first, after_last))
            if rows >= self.record_limit:
                spool.close()
                last = after_last - dt.timedelta(days=1)
                if first == last:
                    raise FatalAPIError(
                        f"{label}: day {first} alone returned {rows} rows, the record limit "
                        f"(aggregate_record_limit {self.record_limit}): Branch may have cut rows; "
                        "give the report fewer dimensions or filters (split it into several)."
                    )
                self.logger.info("%s returned %d rows, the limit: asking in halves.", label, rows)
                parts = [(a, b + dt.timedelta(days=1)) for a, b in halves(first, last)]
                todo.extendleft(reversed(parts))
                continue
            yield from self._replay(spool, app_id, (first, after_last), label)

    def _spool(self, app_id: str, window: Window) -> tuple[t.IO[bytes], int, str]:
        first, after_last = window
        label = f"{self.name} (app {app_id}), window {first}..{after_last - dt.timedelta(days=1)}"
        job_id = self._submit(app_id, window, label)
        started = self.polling.start(window, job_id)
        url = jobs.wait(
            self.polling,
            started,
            check=lambda job: self._check(app_id, job.job_id, label),
            timed_out=lambda job, status, waited: FatalAPIError(
                f"{label}: Branch's job {job.job_id} is still {status} after {waited:.0f} s "
                "(aggregate_job_timeout)."
            ),
        )
        label = f"{label}, job {job_id}"
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _replay or the caller
        encode = msgspec.json.Encoder().encode
        rows = 0
        try:
            try:
                for row in FileReader(self).items(
                    url, self._parser, refresh=lambda: self._finished_url(app_id, job_id, label)
                ):
                    rows += 1
                    spool.write(encode(row) + b"\n")
            except DownloadError as exc:  # retried already: its error names the file
                raise DownloadError(f"{label}: the result: {exc}") from None
            except ValueError as exc:
                raise FatalAPIError(
                    f"{label}: the result ({file_label(url)}) is not readable: {exc}"
                ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, rows, label

    def _replay(
        self, spool: t.IO[bytes], app_id: str, window: Window, label: str
    ) -> t.Iterator[dict]:
        zone = zones.zone_of(self.config, app_id)
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
                record = self._record(item, app_id, zone, window, label)
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

    def _call(self, method: str, path: str, app_id: str, what: str, **kwargs: t.Any) -> dict:
        params = {"app_id": app_id, **(kwargs.pop("params", None) or {})}
        response = self.send(method, path, what=what, params=params, limiter=self.limiter, **kwargs)
        return json_answer(response, what)

    def _submit(self, app_id: str, window: Window, label: str) -> str:
        body = self.report.body(*window)
        answer = self._call(
            "POST",
            PATH,
            app_id,
            f"{label}: submitting its job",
            params={"limit": self.record_limit, "format": self.result_format},
            json=body,
        )
        job_id = answer.get("job_id")
        if not job_id:
            raise FatalAPIError(
                f"{label}: Branch accepted no job: {answer.get('error_message') or answer}"
            )
        return str(job_id)

    def _check(self, app_id: str, job_id: str, label: str) -> str | jobs.Pending:
        # The job's own path on the configured host, never `status_url`: the token goes nowhere else.
        answer = self._call("GET", f"{PATH}/{job_id}", app_id, f"{label}: polling job {job_id}")
        status = str(answer.get("status") or "").strip().upper()
        if status == "FINISHED":
            if not answer.get("response_url"):
                raise FatalAPIError(f"{label}: job {job_id} is FINISHED without a response_url")
            return str(answer["response_url"])
        if status == "ERROR":
            raise FatalAPIError(
                f"{label}: Branch's job {job_id} failed: {answer.get('error_message') or 'no message'}"
            )
        if status in ("QUEUED", "RUNNING", ""):
            return jobs.Pending(status or "pending")
        raise FatalAPIError(f"{label}: job {job_id} has an unknown status {status!r}")

    def _finished_url(self, app_id: str, job_id: str, label: str) -> str:
        answer = self._check(app_id, job_id, label)
        if isinstance(answer, jobs.Pending):
            raise FatalAPIError(f"{label}: job {job_id} no longer offers its result")
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
