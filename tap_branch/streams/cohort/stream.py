"""Cohort results (cohort-export-api.md): one stream `cohort_<name>` per configured report.

A report's date range is cut into windows (at most 90 days each). Each window is
an asynchronous Branch job: `POST /v2/analytics` -> job id, `GET /v2/analytics/<id>`
until FINISHED, then the result file behind a signed URL. Several windows are
submitted before any is polled (`cohort_max_concurrent_jobs`), so Branch computes
them side by side and a backfill costs about one job latency plus what the rate
limits impose, not the sum of the latencies. The submit/poll/timeout loop is the
one Custom Exports use too (`tap_branch.api.jobs`): each window is a `CohortJob` (`job`),
run for every cohort stream of the run by one `JobScheduler` in a background thread
(`tap_branch.api.job_scheduler`): API calls go out at the limiter's pace while the main
thread processes results, and the next selected reports' windows are submitted while a
report's last jobs run, so reports overlap as windows do.

Every API call (submissions and polls) passes the run's limiter
`tap_branch.api.ratelimit.configured_limiter(caches, config, "cohort", ...)`, so all cohort streams
together stay within Branch's 2/s, 5/min, 150/h.

Bookmarks: a cohort day's band values change until its last band has passed. The
bookmark is the last *mature* cohort date; each run re-extracts everything after
it up to yesterday, and targets upsert those rows on the primary key. The SDK
moves bookmarks record by record, which would mark immature days as done, so the
bookmark is written by hand once every window up to it has been emitted.
"""

from __future__ import annotations

import datetime as dt
import typing as t
from functools import cached_property

from tap_branch import clock
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.job_scheduler import JobScheduler
from tap_branch.api.ratelimit import Limiter, configured_limiter
from tap_branch.api.stream import Branch2Stream
from tap_branch.config.apps import scope_field
from tap_branch.config.credentials import ACCESS_TOKEN
from tap_branch.config.errors import parse_date
from tap_branch.files.downloads import FileReader
from tap_branch.output.sdk_internals import sibling_streams
from tap_branch.records.items import Checkpoint
from tap_branch.streams.cohort import catalog, reports
from tap_branch.streams.cohort.api import CohortApi
from tap_branch.streams.cohort.cache import CohortCache
from tap_branch.streams.cohort.job import CohortJob
from tap_branch.streams.cohort.settings import DEFAULT_RATE_LIMITS, CohortSettings

#: Calls a window is expected to cost (submission and polls), for the up-front estimate.
EXPECTED_CALLS_PER_WINDOW = 3


class CohortStream(Branch2Stream):
    """The results of one cohort report, in long format (one record per band)."""

    credentials = ACCESS_TOKEN
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

    def _run_shared(self) -> tuple[Limiter, JobScheduler]:
        """The run's cohort limiter and job scheduler, shared by all its cohort streams."""
        limiter = configured_limiter(
            self.caches, self.config, "cohort", DEFAULT_RATE_LIMITS, self.logger
        )
        cache = self.caches.of(CohortCache)
        if cache.scheduler is None:
            settings = self.settings
            cache.scheduler = JobScheduler(settings.polling, settings.max_jobs, name="cohort jobs")
        return limiter, cache.scheduler

    # --- dates and bookmarks --------------------------------------------------------

    def plan(
        self, context: dict | None, *, warn: bool = True
    ) -> tuple[dt.date, dt.date, list[CohortJob]]:
        """The date range this run extracts and the jobs of its windows (none when it is up to
        date)."""
        start, end = self.date_range(context, warn=warn)
        windows = reports.windows(self.report, start, end) if start <= end else []
        return start, end, [CohortJob(self.report, w, self.api, self._reader) for w in windows]

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
        plan is read when the first one starts (`get_records`), and its STATE waits for its turn."""
        if self.name not in (self.tap_state.get("bookmarks") or {}):
            return None
        return self.get_context_state(context).get("replication_key_value")

    # --- sync -----------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        start, end, planned = self.plan(context)
        scope = self.scope_param
        later = self._later_streams()
        _, scheduler = self._run_shared()
        try:
            # The first cohort stream queues all of them; later ones' warnings are for their turn.
            scheduler.plan(
                (s.name, lambda s=s: s.plan(None, warn=False)[2]) for s in [self, *later]
            )
            yield from self._sync(context, scheduler, start, end, planned, scope)
        except BaseException:
            scheduler.stop()  # the run fails (or stops here): nothing more to ask Branch
            raise
        if not later:
            scheduler.stop()

    def _sync(
        self,
        context: dict | None,
        scheduler: JobScheduler,
        start: dt.date,
        end: dt.date,
        planned: list[CohortJob],
        scope: dict[str, str],
    ) -> t.Iterator[dict]:
        if start > end:
            self.logger.info("%s is up to date (through %s).", self.name, end)
            return
        mature = reports.last_mature_day(self.report, clock.today())
        self._announce(planned, start, end, mature)
        done: dict[dt.date, dt.date] = {}  # completed windows: start -> end
        frontier = start
        # In the order the jobs finish (up to `cohort_max_concurrent_jobs` in flight).
        for job, fetched in scheduler.fetched(self.name, planned):
            window = job.key
            yield from fetched.records
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
        self, planned: list[CohortJob], start: dt.date, end: dt.date, mature: dt.date
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

    def _later_streams(self) -> list[CohortStream]:
        """The selected cohort streams the SDK syncs after this one (it syncs in this order)."""
        siblings = sibling_streams(self)
        return [
            s
            for s in siblings[siblings.index(self) + 1 :]
            if isinstance(s, CohortStream) and s.selected
        ]


def build_streams(tap) -> list:
    return [CohortStream(tap, report) for report in reports.reports_from_config(tap.config)]
