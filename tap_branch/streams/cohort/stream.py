"""Cohort results (cohort-export-api.md): one stream `cohort_<name>` per configured report.

A report's date range is cut into windows (at most 90 days each). Each window is
an asynchronous Branch job: `POST /v2/analytics` -> job id, `GET /v2/analytics/<id>`
until FINISHED, then the result file behind a signed URL. Several windows are
submitted before any is polled (`cohort_max_concurrent_jobs`), so Branch computes
them side by side and a backfill costs about one job latency plus what the rate
limits impose, not the sum of the latencies. The submit/poll/timeout loop is the
one Custom Exports use too (`tap_branch.api.jobs`), run for every cohort stream of the run
in one background thread (`background`): API calls go out at the limiter's pace while
the main thread processes results, and the next selected reports' windows are submitted
while a report's last jobs run, so reports overlap as windows do.

Every API call (submissions and polls) passes the process-wide limiter
`tap_branch.api.ratelimit.configured_limiter(config, "cohort", ...)`, so all cohort streams
together stay within Branch's 2/s, 5/min, 150/h.

Bookmarks: a cohort day's band values change until its last band has passed. The
bookmark is the last *mature* cohort date; each run re-extracts everything after
it up to yesterday, and targets upsert those rows on the primary key. The SDK
moves bookmarks record by record, which would mark immature days as done, so the
bookmark is written by hand once every window up to it has been emitted.
"""

from __future__ import annotations

import datetime as dt
import functools
import tempfile
import typing as t
from functools import cached_property

import msgspec
import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.api import jobs
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.date_windows import halves
from tap_branch.api.ratelimit import DEFAULT_MARGIN_SECONDS, configured_limiter
from tap_branch.api.stream import Branch2Stream
from tap_branch.config.apps import default_app_id, scope_field
from tap_branch.config.settings import invalid_setting, parse_date
from tap_branch.errors import DownloadError, describe_response, json_answer
from tap_branch.files.downloads import FileReader, file_label
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.output.sdk_internals import sibling_streams
from tap_branch.records.items import Checkpoint
from tap_branch.streams.cohort import catalog, reports
from tap_branch.streams.cohort.background import CohortJobs, Result
from tap_branch.streams.cohort.results import RowExpander

SETTINGS = [
    th.Property(
        "cohort_reports",
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "name",
                    th.StringType,
                    required=True,
                    description="Stream name suffix: cohort_<name>.",
                ),
                th.Property(
                    "data_source",
                    th.StringType,
                    description="install_cohort (default) or reengagement_cohort.",
                ),
                th.Property(
                    "dimensions",
                    th.ArrayType(th.StringType),
                    description="Up to 10 dimensions (the cohort date is always added).",
                ),
                th.Property(
                    "measures",
                    th.ArrayType(th.StringType),
                    description="1 to 5 measures: documented ones or custom event names. Branch's "
                    "request tables say 3 (its limits table 5): an account that refuses 4 or 5 fails "
                    "the run naming the report; split it.",
                ),
                th.Property(
                    "filters",
                    th.ObjectType(additional_properties=True),
                    description="{dimension: [values]}: AND across dimensions, OR within one.",
                ),
                th.Property(
                    "granularity", th.StringType, description="day (default), week or month."
                ),
                th.Property(
                    "granularity_band_count",
                    th.IntegerType,
                    description="Bands per cohort (default 30).",
                ),
                th.Property("cumulative", th.BooleanType),
                th.Property("per_user", th.BooleanType),
                th.Property("enable_install_recalculation", th.BooleanType),
            )
        ),
        description="Cohort reports, each its own stream cohort_<name>. Default: one report 'installs_by_campaign' "
        "(install cohorts by campaign, channel and ad partner; users, revenue, OPEN; 30 daily bands).",
    ),
    th.Property(
        "cohort_format",
        th.StringType,
        default="json",
        allowed_values=["json", "csv"],
        description="Result format to request.",
    ),
    th.Property(
        "cohort_record_limit",
        th.IntegerType(minimum=1),
        default=catalog.RECORD_LIMIT,
        description="`limit` sent with every cohort query (Branch's own default is 100 rows). A window whose result "
        "reaches it is split in half and asked again.",
    ),
    th.Property(
        "cohort_max_concurrent_jobs",
        th.IntegerType(minimum=1),
        default=5,
        description="Cohort jobs submitted before polling.",
    ),
    th.Property(
        "cohort_job_timeout",
        th.NumberType(exclusive_minimum=0),
        default=3600,
        description="Seconds a cohort job may take before the run fails.",
    ),
    th.Property(
        "cohort_poll_interval",
        th.NumberType(exclusive_minimum=0),
        default=5,
        description="Seconds before a cohort job's first poll; each further wait grows by half.",
    ),
    th.Property(
        "cohort_poll_max_interval",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Longest wait between polls of one cohort job.",
    ),
    th.Property(
        "cohort_rate_limits",
        th.ArrayType(
            th.ObjectType(
                th.Property("requests", th.IntegerType(minimum=1), required=True),
                th.Property("seconds", th.NumberType(exclusive_minimum=0), required=True),
            )
        ),
        description="Client-side limits for the cohort API, all enforced at once. Default: 2/1 s, 5/60 s, 150/3600 s.",
    ),
    th.Property(
        "cohort_rate_limit_margin",
        th.NumberType(minimum=0),
        default=DEFAULT_MARGIN_SECONDS,
        description="Seconds added to every cohort rate-limit window (besides 0.1% of it), for "
        "clock differences between Branch's servers. A time-scaled sandbox scales it too.",
    ),
]

DEFAULT_RATE_LIMITS = [(2, 1.0), (5, 60.0), (150, 3600.0)]
#: Calls a window is expected to cost (submission and polls), for the up-front estimate.
EXPECTED_CALLS_PER_WINDOW = 3

Window = tuple[dt.date, dt.date]


class CohortStream(Branch2Stream):
    """The results of one cohort report, in long format (one record per band)."""

    credentials_needed = "v2"
    refused_credential_setting = "setting 'access_token'"
    replication_key = "cohort_date"
    bookmarks_per_record = False  # mature, completed windows move it (`get_records`)
    is_sorted = False

    report: reports.CohortReport

    def __init__(self, tap: t.Any, report: reports.CohortReport) -> None:
        self.report = report
        self.scope = scope_field(tap.config)
        super().__init__(tap, schema=reports.schema(report), name=report.stream_name)
        self.primary_keys = reports.primary_keys(report, self.scope)
        self._reader = FileReader(self)

    # --- settings -------------------------------------------------------------

    @cached_property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(self.config.get("access_token") or "")

    @property
    def scope_param(self) -> dict[str, str]:
        value = (
            self.config.get("organization_id")
            if self.scope == "organization_id"
            else default_app_id(self.config)
        )
        if not value:
            raise invalid_setting(
                f"Stream {self.name} needs setting 'organization_id' or 'app_id': Branch's cohort API is "
                "queried per organization (organization_id) or per app (app_id)."
            )
        return {self.scope: str(value)}

    @cached_property
    def limiter(self):
        return configured_limiter(self.config, "cohort", DEFAULT_RATE_LIMITS, self.logger)

    @property
    def record_limit(self) -> int:
        return int(self.config.get("cohort_record_limit") or catalog.RECORD_LIMIT)

    @property
    def result_format(self) -> str:
        return str(self.config.get("cohort_format") or "json").lower()

    @cached_property
    def polling(self) -> jobs.Polling:
        interval = float(self.config.get("cohort_poll_interval", 5))
        return jobs.Polling(
            first_wait=interval,
            wait=interval,
            growth=1.5,
            longest_wait=float(self.config.get("cohort_poll_max_interval") or 60),
            timeout=float(self.config.get("cohort_job_timeout") or 3600),
        )

    @property
    def max_jobs(self) -> int:
        return max(1, int(self.config.get("cohort_max_concurrent_jobs") or 5))

    # --- dates and bookmarks --------------------------------------------------------

    def plan(
        self, context: dict | None, *, warn: bool = True
    ) -> tuple[dt.date, dt.date, list[Window]]:
        """The date range this run extracts and its windows (none when it is up to date)."""
        start, end = self.date_range(context, warn=warn)
        return start, end, reports.windows(self.report, start, end) if start <= end else []

    def date_range(self, context: dict | None, *, warn: bool = True) -> tuple[dt.date, dt.date]:
        today = clock.today()
        start = parse_date(str(self.config["start_date"]), "start_date")
        origin = "start_date"
        bookmark = self._bookmark(context)
        if bookmark:
            resume = parse_date(str(bookmark), "state") + dt.timedelta(days=1)
            if resume > start:
                start, origin = resume, "the day after the bookmark"
        # Clamped after the bookmark is applied: a run resuming from a recent bookmark
        # warns about nothing, whatever the (old) start_date.
        oldest = reports.add_units(today, "month", -catalog.MAX_LOOKBACK_MONTHS) + dt.timedelta(
            days=1
        )
        if start < oldest:
            if warn:
                self._warn_lookback(origin, start, oldest)
            start = oldest
        end = today - dt.timedelta(days=1)
        if self.config.get("end_date"):
            end = min(end, parse_date(str(self.config["end_date"]), "end_date"))
        return start, end

    def _warn_lookback(self, origin: str, start: dt.date, oldest: dt.date) -> None:
        self.logger.warning(
            "%s: %s (%s) is beyond Branch's %d-month cohort lookback; starting at %s instead.",
            self.name,
            origin,
            start,
            catalog.MAX_LOOKBACK_MONTHS,
            oldest,
        )

    def _bookmark(self, context: dict | None) -> str | None:
        """The saved bookmark, read without creating this stream's state entry: a later report's
        plan is read when the first one starts (`background`), and its STATE waits for its turn."""
        if self.name not in (self.tap_state.get("bookmarks") or {}):
            return None
        return self.get_context_state(context).get("replication_key_value")

    # --- API calls ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        what: str,
        *,
        params: dict | None = None,
        body: dict | None = None,
        refused: t.Callable[[requests.Response], Exception] | None = None,
    ) -> dict:
        """One cohort API call through the shared limiter; its JSON object answer. `refused`:
        the error for a 400 answer, worded by the caller (else the usual one)."""
        response = self.send(
            method,
            path,
            what=what,
            params={**self.scope_param, **(params or {})},
            json=body,
            limiter=self.limiter,
            tolerate=(400,) if refused else (),
        )
        if response.status_code == 400 and refused:
            raise refused(response)
        return json_answer(response, f"{self.name}: {what}")

    def submit_window(self, window: Window, *, ahead_of: str | None = None) -> str:
        """Submit the job of one window (`ahead_of`: while that stream syncs); its job id."""
        what = f"submitting {window[0]}..{window[1]}"

        def refused(response: requests.Response) -> FatalAPIError:
            # More measures than the request tables allow: the likeliest reason, said first.
            return FatalAPIError(
                f"{self.name}: Branch refused {what} ({describe_response(response)}): "
                f"{self.report.measures_limit_advice()}"
            )

        answer = self._call(
            "POST",
            "/v2/analytics",
            what,
            params={"limit": self.record_limit, "format": self.result_format},
            body=self.report.query(*window),
            refused=refused if self.report.measures_in_doubt else None,
        )
        job_id = answer.get("job_id")
        if not job_id:
            raise FatalAPIError(
                f"{self.name}: Branch accepted no job for {window[0]}..{window[1]}: "
                f"{answer.get('error_message') or answer}"
            )
        self.logger.info(
            "%s: job %s submitted for %s..%s%s",
            self.name,
            job_id,
            *window,
            f" (ahead, while {ahead_of} finishes)" if ahead_of else "",
        )
        return str(job_id)

    def _poll(self, job_id: str) -> dict:
        # The job's own path on our configured host, not `status_url`: the token goes nowhere else.
        return self._call("GET", f"/v2/analytics/{job_id}", f"polling job {job_id}")

    def check_job(self, job_id: str, window: Window) -> str | jobs.Pending:
        """A job's result URL once FINISHED (maybe empty: `_spool` says so); an error for a
        failed job or one in a status Branch does not document."""
        answer = self._poll(job_id)
        status = _status(answer)
        if status == "FINISHED":
            return str(answer.get("response_url") or "")
        if status == "ERROR":
            raise FatalAPIError(
                f"{self.name}: Branch's job {job_id} for {window[0]}..{window[1]} failed: "
                f"{answer.get('error_message') or 'no error message'}"
            )
        if status in ("QUEUED", "RUNNING", ""):
            return jobs.Pending(status or "pending")
        raise FatalAPIError(
            f"{self.name}: job {job_id} for {window[0]}..{window[1]} has an unknown status {status!r}"
        )

    def job_timed_out(
        self, job_id: str, window: Window, status: str, waited: float
    ) -> FatalAPIError:
        return FatalAPIError(
            f"{self.name}: Branch's job {job_id} for {window[0]}..{window[1]} is still "
            f"{status} after {waited:.0f} s (cohort_job_timeout {self.polling.timeout:g} s)."
        )

    def _finished_url(self, job_id: str) -> str:
        """The signed result URL of a FINISHED job, asked again (for refreshing an expired URL)."""
        answer = self._poll(job_id)
        if _status(answer) != "FINISHED" or not answer.get("response_url"):
            raise FatalAPIError(
                f"{self.name}: job {job_id} no longer offers a result ({_status(answer) or 'no status'})"
            )
        return str(answer["response_url"])

    # --- sync -----------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        start, end, planned = self.plan(context)
        scope = self.scope_param
        later = self._later_streams()
        cohort_jobs = self._cohort_jobs()
        try:
            cohort_jobs.plan([self, *later])  # the first cohort stream queues all of them
            yield from self._sync(context, cohort_jobs, start, end, planned, scope)
        except BaseException:
            cohort_jobs.stop()  # the run fails (or stops here): nothing more to ask Branch
            raise
        if not later:
            cohort_jobs.stop()

    def _cohort_jobs(self) -> CohortJobs:
        """The run's background job runner, shared by its cohort streams."""
        runner = self.run_cache.get("cohort_jobs")
        if runner is None:
            runner = self.run_cache["cohort_jobs"] = CohortJobs(self.polling, self.max_jobs)
        return runner

    def _sync(
        self,
        context: dict | None,
        cohort_jobs: CohortJobs,
        start: dt.date,
        end: dt.date,
        planned: list[Window],
        scope: dict[str, str],
    ) -> t.Iterator[dict]:
        if start > end:
            self.logger.info("%s is up to date (through %s).", self.name, end)
            return
        mature = reports.last_mature_day(self.report, clock.today())
        self._announce(planned, start, end, mature)
        done: dict[dt.date, dt.date] = {}  # completed windows: start -> end
        frontier = start
        for window, records in self._results(cohort_jobs, planned):
            yield from records
            done[window[0]] = window[1]
            # The bookmark moves over the contiguous completed range, never past maturity.
            while frontier in done:
                frontier = done.pop(frontier) + dt.timedelta(days=1)
            covered = frontier - dt.timedelta(days=1)
            bookmark = min(covered, mature)
            if bookmark >= start:
                yield Checkpoint(bookmark=bookmark.isoformat())
        self.logger.info(
            "%s: %s..%s extracted for %s %s; days after %s are not mature yet and will be re-extracted next run.",
            self.name,
            start,
            end,
            self.scope,
            scope[self.scope],
            mature,
        )

    def _announce(
        self, planned: list[Window], start: dt.date, end: dt.date, mature: dt.date
    ) -> None:
        calls = len(planned) * EXPECTED_CALLS_PER_WINDOW
        hour_budget = self.limiter.budget(3600)
        self.logger.info(
            "%s: %s..%s in %d window(s), about %d API calls; bookmark moves to mature days (through %s).",
            self.name,
            start,
            end,
            len(planned),
            calls,
            mature,
        )
        custom = [m for m in self.report.measures if m not in catalog.DOCUMENTED_MEASURES]
        if custom:
            self.logger.info(
                "%s: measures %s are sent as custom event names.", self.name, ", ".join(custom)
            )
        if calls > hour_budget:
            self.logger.warning(
                "%s: about %d cohort API calls needed but the rate limits allow %d in the next hour; "
                "this run will take at least %.1f hours (estimate).",
                self.name,
                calls,
                hour_budget,
                self.limiter.seconds_for(calls) / 3600,
            )

    def _results(
        self, cohort_jobs: CohortJobs, planned: list[Window]
    ) -> t.Iterator[tuple[Window, t.Iterator[dict]]]:
        """(window, its records) for every window, in the order their jobs finish (the
        background thread keeps up to `cohort_max_concurrent_jobs` in flight)."""
        for result in cohort_jobs.results(self, planned):
            window = result.window
            spool, rows, expander = self._spool(result)
            if rows >= self.record_limit and window[0] < window[1]:
                spool.close()
                self.logger.info(
                    "%s: %s..%s returned %d rows, the record limit: it may be cut; splitting it in half.",
                    self.name,
                    *window,
                    rows,
                )
                cohort_jobs.split(self, list(halves(*window)))
                continue
            if rows >= self.record_limit:
                spool.close()
                raise self._day_at_the_limit(window[0], rows)
            try:  # a whole result (not one cut at the limit) has every measure asked for
                expander.check_measures(rows)
            except BaseException:
                spool.close()
                raise
            yield window, _replay(spool, expander)

    def _day_at_the_limit(self, day: dt.date, rows: int) -> FatalAPIError:
        """A single cohort day whose result reached the limit: Branch may have cut rows, and no
        smaller window can be asked for."""
        return FatalAPIError(
            f"{self.name}: cohort day {day} alone returned {rows} rows, the record limit "
            f"(cohort_record_limit {self.record_limit}): Branch may have cut rows of report "
            f"'{self.report.name}' for that day, so the run stops before its bookmark passes it. "
            "Give the report fewer dimensions or add filters (split it into several reports), or "
            "raise cohort_record_limit if Branch allows your account more rows."
        )

    def _later_streams(self) -> list[CohortStream]:
        """The selected cohort streams the SDK syncs after this one (it syncs in this order)."""
        siblings = sibling_streams(self)
        return [
            s
            for s in siblings[siblings.index(self) + 1 :]
            if isinstance(s, CohortStream) and s.selected
        ]

    def _spool(self, result: Result) -> tuple[t.IO[bytes], int, RowExpander]:
        """Read the result once into a temporary file of its rows; count them; the expander
        that turns them into records (`_replay`).

        Whether a result reached the record limit is known only at its end, and records
        already emitted could not be taken back before splitting the window. Spooling to
        disk (not memory) keeps memory flat. Rows, not records, are spooled: a row is one
        record per band and measure (~50 here), and encoding and decoding every record
        once more cost about a third of a result's processing.
        """
        job_id, window, url = result.job_id, result.window, result.url
        if not url:
            raise FatalAPIError(f"{self.name}: job {job_id} is FINISHED without a response_url")
        label = file_label(url)
        expand = RowExpander(
            self.report,
            {"report": self.report.name, **self._scope_constants()},
            source=f"{self.name} (report '{self.report.name}'), job {job_id} for "
            f"{window[0]}..{window[1]} ({label})",
        )
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed by _replay
        encode = msgspec.json.Encoder().encode
        rows = 0
        try:
            for row in self._reader.items(
                url, self._parser, refresh=lambda: self._finished_url(job_id)
            ):
                rows += 1
                expand.check(row, rows)
                spool.write(encode(row) + b"\n")
        except DownloadError as exc:  # the file, retried: its error names the file, not the job
            spool.close()
            raise DownloadError(
                f"{self.name}: the result of job {job_id} for {window[0]}..{window[1]}: {exc}"
            ) from None
        except ValueError as exc:
            spool.close()
            raise FatalAPIError(
                f"{self.name}: the result of job {job_id} ({label}) is not readable: {exc}"
            ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, rows, expand

    @property
    def _parser(self) -> t.Callable[[t.IO[bytes]], t.Iterator[dict]]:
        """The reader of this report's result files; a CSV header must name the key columns."""
        if self.result_format == "json":
            return json_array_items
        return functools.partial(csv_dicts, key_columns=("measure", self.report.date_dimension))

    def _scope_constants(self) -> dict[str, t.Any]:
        constants: dict[str, t.Any] = {"organization_id": None, "app_id": None}
        constants.update(self.scope_param)
        return constants


def _status(answer: t.Mapping[str, t.Any]) -> str:
    """A job's status as Branch's documents spell it (upper case), whatever the answer's case."""
    return str(answer.get("status") or "").strip().upper()


def _replay(spool: t.IO[bytes], expand: RowExpander) -> t.Iterator[dict]:
    decode = msgspec.json.Decoder().decode
    with spool:
        for line in spool:
            yield from expand(decode(line))


def build_streams(tap) -> list:
    return [CohortStream(tap, report) for report in reports.reports_from_config(tap.config)]
