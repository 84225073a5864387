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
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.date_windows import halves
from tap_branch.api.ratelimit import Limiter, configured_limiter
from tap_branch.api.stream import Branch2Stream
from tap_branch.config.apps import scope_field
from tap_branch.config.settings import parse_date
from tap_branch.errors import DownloadError
from tap_branch.files.downloads import FileReader, file_label
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.output.sdk_internals import sibling_streams
from tap_branch.streams.cohort import catalog, reports
from tap_branch.streams.cohort.api import CohortApi
from tap_branch.streams.cohort.background import CohortJobs, Result
from tap_branch.streams.cohort.results import RowExpander
from tap_branch.streams.cohort.settings import DEFAULT_RATE_LIMITS, CohortSettings

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

    # --- settings and the run's shared pieces ----------------------------------------

    @cached_property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(self.config.get("access_token") or "")

    @cached_property
    def settings(self) -> CohortSettings:
        return CohortSettings.from_config(self.config)

    @property
    def scope_param(self) -> dict[str, str]:
        return self.settings.scope_param(self.name)

    @cached_property
    def api(self) -> CohortApi:
        """This stream's cohort API calls, through its `send` and the run's cohort limiter."""
        limiter, _ = self._run_shared()
        return CohortApi(
            self.send, self.name, self.logger, self.scope_param, limiter, self.settings
        )

    def _run_shared(self) -> tuple[Limiter, CohortJobs]:
        """The run's cohort limiter and job runner, shared by all its cohort streams."""
        limiter = configured_limiter(self.config, "cohort", DEFAULT_RATE_LIMITS, self.logger)
        runner = self.run_cache.get("cohort_jobs")
        if runner is None:
            settings = self.settings
            runner = self.run_cache["cohort_jobs"] = CohortJobs(settings.polling, settings.max_jobs)
        return limiter, runner

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

    # --- sync -----------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        start, end, planned = self.plan(context)
        scope = self.scope_param
        later = self._later_streams()
        _, cohort_jobs = self._run_shared()
        try:
            cohort_jobs.plan([self, *later])  # the first cohort stream queues all of them
            yield from self._sync(context, cohort_jobs, start, end, planned, scope)
        except BaseException:
            cohort_jobs.stop()  # the run fails (or stops here): nothing more to ask Branch
            raise
        if not later:
            cohort_jobs.stop()

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
                self.checkpoint(context, bookmark=bookmark.isoformat())
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
        limiter, _ = self._run_shared()
        hour_budget = limiter.budget(3600)
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
                limiter.seconds_for(calls) / 3600,
            )

    def _results(
        self, cohort_jobs: CohortJobs, planned: list[Window]
    ) -> t.Iterator[tuple[Window, t.Iterator[dict]]]:
        """(window, its records) for every window, in the order their jobs finish (the
        background thread keeps up to `cohort_max_concurrent_jobs` in flight)."""
        for result in cohort_jobs.results(self, planned):
            window = result.window
            spool, rows, expander = self._spool(result)
            if rows >= self.settings.record_limit and window[0] < window[1]:
                spool.close()
                self.logger.info(
                    "%s: %s..%s returned %d rows, the record limit: it may be cut; splitting it in half.",
                    self.name,
                    *window,
                    rows,
                )
                cohort_jobs.split(self, list(halves(*window)))
                continue
            if rows >= self.settings.record_limit:
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
            f"(cohort_record_limit {self.settings.record_limit}): Branch may have cut rows of report "
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
                url, self._parser, refresh=lambda: self.api.finished_url(job_id)
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
        if self.settings.result_format == "json":
            return json_array_items
        return functools.partial(csv_dicts, key_columns=("measure", self.report.date_dimension))

    def _scope_constants(self) -> dict[str, t.Any]:
        constants: dict[str, t.Any] = {"organization_id": None, "app_id": None}
        constants.update(self.scope_param)
        return constants


def _replay(spool: t.IO[bytes], expand: RowExpander) -> t.Iterator[dict]:
    decode = msgspec.json.Decoder().decode
    with spool:
        for line in spool:
            yield from expand(decode(line))


def build_streams(tap) -> list:
    return [CohortStream(tap, report) for report in reports.reports_from_config(tap.config)]
