"""Custom Exports (`/v2/logs`): one stream per report type, event-level rows as gzipped JSON lines.

Per app and report type, a run:
1. finds the last hour Branch has finished loading (`POST /v2/data/ready`, walking back hour by
   hour from now; data lands 2-6 hours late) and ends its work there, so the bookmark never
   passes events that have not landed yet;
2. splits [bookmark, last ready hour) into windows of at most 60 days, never earlier than
   120 days ago (an older start is clamped, with a warning naming the period lost);
3. per window: creates an export job (`POST /v2/logs`), polls it (`GET /v2/logs/{handle}`) until
   `complete`, streams every file (newline-delimited JSON, gzipped), types each object with
   the event ontology, then moves the bookmark to the window's end.

A job's handle and the files read so far are kept in state (`window_in_progress`), so a run
stopped mid-window resumes the same job (no new job, no creation budget spent) and skips the
files already emitted. Branch's rate limits (jobs 10/min and 25/h, status checks 50/min and
1000/h, 100 days of data an hour per app) are kept by the tap's own limiter (`settings.py`),
429s are still waited out by the base stream. A 400 saying a field "is not available for
exports" drops that field and asks again, until Branch refuses none (Branch names one field
per answer); the refused fields are remembered for the run and logged once.
"""

from __future__ import annotations

import datetime as dt
import functools
import typing as t

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.stream import Branch2Stream
from tap_branch.clock import parse_moment
from tap_branch.config.apps import v2_app_ids
from tap_branch.config.credentials import ACCESS_TOKEN_WITH_APP
from tap_branch.config.errors import parse_date
from tap_branch.config.retention import clamp_to_retention
from tap_branch.config.state_checks import ISO_MOMENT
from tap_branch.errors import (
    RequestRejected,
    branch_error_message,
    describe_response,
    refuses_credentials,
)
from tap_branch.files.downloads import (
    FileReader,
    file_done_entry,
    file_label,
    files_to_read,
    json_lines,
    same_file_in,
)
from tap_branch.output.sdk_internals import sibling_streams
from tap_branch.records.items import Checkpoint
from tap_branch.records.schemas.event_topics import REPORT_TYPES
from tap_branch.records.schemas.ontology import RawMillis, ontology_properties
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, DictTyper
from tap_branch.redaction import redact
from tap_branch.streams.custom_exports.fields import fields_for
from tap_branch.streams.custom_exports.jobs import ExportJobs, JobFiles, job_days
from tap_branch.streams.custom_exports.readiness import (
    ReadinessChecks,
    branch_time,
    floor_hour,
)
from tap_branch.streams.custom_exports.settings import MAX_WINDOW_DAYS, setting_default

if t.TYPE_CHECKING:
    import requests

_UTC = dt.timezone.utc
_HOUR = dt.timedelta(hours=1)
LOOKBACK_DAYS = 120
PROGRESS = "window_in_progress"


class CustomExportStream(ReadinessChecks, ExportJobs, Branch2Stream):
    """One Custom Exports report type, per app, incremental by the hour Branch has finished."""

    credentials = ACCESS_TOKEN_WITH_APP
    # Opt-in: every report type costs export jobs out of Branch's 25 an hour and days out of
    # its 100 an hour, so running all 31 unasked would take hours. Select the ones you need.
    selected_by_default = False
    replication_key = "timestamp"
    bookmarks_per_record = False  # finished windows move it (`get_records`)
    is_sorted = False
    #: Checked when a --state is loaded (`tap_branch.config.state_checks`).
    state_keys: t.ClassVar[dict] = {
        PROGRESS: {
            "type": "object",
            "required": ["start", "end", "handle"],
            "properties": {
                "start": ISO_MOMENT,
                "end": ISO_MOMENT,
                "handle": {"type": "string", "minLength": 1},
                "files_done": {"type": "array", "items": {"type": "string"}},
                "lines_done": {"type": "integer", "minimum": 0},
            },
        }
    }
    report_type: str = ""
    path = "/v2/logs"

    def __init__(self, tap: t.Any) -> None:
        self.fields = fields_for(tap.config, self.report_type)
        schema = th.PropertiesList(
            th.Property(
                "app_id", th.StringType, required=True, description="Branch app id of the row."
            ),
            *ontology_properties(self.fields),
            *CATCH_ALL_PROPERTIES,
        ).to_dict()
        super().__init__(tap, schema=schema)
        self.primary_keys = ["app_id", "id"] if "id" in self.fields else []
        self._reader = FileReader(self)

    @property
    def partitions(self) -> list[dict]:
        return [{"app_id": app_id} for app_id in v2_app_ids(self.config, [self.name])]

    @property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(str(self.config.get("access_token") or ""))

    def refuses_token(self, response: requests.Response) -> bool:
        """Branch's API (not a file host) refusing the access token: 401, or a 4xx that says
        so ("Authentication failed !" comes with 400). A 403 without it says something else
        (Custom Exports not enabled for this account, say): an error with Branch's text."""
        status = response.status_code
        return (
            400 <= status < 500
            and status != 429
            and response.url.startswith(f"{self.url_base}/v2/")
            and refuses_credentials(status, branch_error_message(response) or "")
        )

    def validate_response(self, response: requests.Response) -> None:
        if self.refuses_token(response):
            # A RequestRejected, with the status and Branch's text the connection test reads.
            raise RequestRejected(
                f"Branch refused the access token: {describe_response(response)}. Check setting "
                "'access_token' (its user needs Export access to the app, setting 'app_id').",
                response.status_code,
                redact(branch_error_message(response) or ""),
            )
        super().validate_response(response)

    def _limiter(self, setting: str, name: str):
        windows = [(int(w["limit"]), float(w["seconds"])) for w in self.config.get(setting) or []]
        if not windows:
            windows = [(int(w["limit"]), float(w["seconds"])) for w in setting_default(setting)]
        return self.caches.limiter(name, windows, self.logger)

    # --- windows -------------------------------------------------------------

    def _start(self, context: dict) -> dt.datetime:
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            start = parse_moment(str(bookmark))
        else:
            day = parse_date(str(self.config["start_date"]), "start_date")
            start = dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)
        # The 120 days count when Branch receives the job; an hour's margin covers a long run.
        earliest = floor_hour(clock.now() - dt.timedelta(days=LOOKBACK_DAYS)) + 2 * _HOUR
        return clamp_to_retention(
            start,
            earliest,
            logger=self.logger,
            where=f"{self.name} (app {context['app_id']})",
            kept=f"Custom Exports reach back only {LOOKBACK_DAYS} days",
            show=branch_time,
        )

    def _limit(self) -> dt.datetime:
        if self.config.get("end_date"):
            day = parse_date(str(self.config["end_date"]), "end_date") + dt.timedelta(days=1)
            return min(clock.now(), dt.datetime(day.year, day.month, day.day, tzinfo=_UTC))
        return clock.now()

    def windows(
        self, start: dt.datetime, end: dt.datetime
    ) -> t.Iterator[tuple[dt.datetime, dt.datetime]]:
        days = max(
            1,
            min(
                MAX_WINDOW_DAYS,
                int(self.config.get("custom_exports_window_days") or MAX_WINDOW_DAYS),
            ),
        )
        while start < end:
            stop = min(end, start + dt.timedelta(days=days))
            yield start, stop
            start = stop

    # --- sync ----------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        app_id = context["app_id"]
        state = self.get_context_state(context)
        start = self._start(context)
        pending = state.get(PROGRESS)
        if pending and parse_moment(pending["start"]) != start:
            pending = None  # from another start (a changed bookmark): not this window
        ready_end = self.last_ready_end(app_id, start, self._limit())
        if pending:
            ready_end = max(ready_end or start, parse_moment(pending["end"]))
        if ready_end is None or ready_end <= start:
            self.logger.info(
                "%s (app %s): no hour after %s is ready at Branch yet; nothing to export this run.",
                self.name,
                app_id,
                branch_time(start),
            )
            return
        windows = list(self.windows(start, ready_end))
        if pending:
            pending_end = parse_moment(pending["end"])
            windows = [(start, pending_end), *self.windows(pending_end, ready_end)]
        self._announce(app_id, windows)
        for window_start, window_end in windows:
            yield from self._export_window(context, app_id, window_start, window_end, pending)
            pending = None
            window = f"{branch_time(window_start)} to {branch_time(window_end)} (app {app_id})"
            yield Checkpoint(bookmark=window_end.isoformat(), entries={PROGRESS: None}, done=window)

    def _announce(self, app_id: str, windows: list[tuple[dt.datetime, dt.datetime]]) -> None:
        """Before the first job, as the cohort streams do: the jobs and days of data this
        report type needs, and how long Branch's limits (shared by every report type and,
        for days, per app) make that take."""
        jobs, days = len(windows), sum(job_days(start, end) for start, end in windows)
        create = self._limiter("custom_exports_create_limits", "branch-custom-exports-create")
        day_limiter = self._limiter(
            "custom_exports_days_limits", f"branch-custom-exports-days:{app_id}"
        )
        sharing = sum(
            1
            for stream in sibling_streams(self)
            if isinstance(stream, CustomExportStream) and stream.selected
        )
        self.logger.info(
            "%s (app %s): %s to %s in %d export job(s), %d day(s) of data; %d Custom Exports "
            "report type(s) selected share Branch's limits.",
            self.name,
            app_id,
            branch_time(windows[0][0]),
            branch_time(windows[-1][1]),
            jobs,
            days,
            sharing,
        )
        job_budget, day_budget = create.budget(3600), day_limiter.budget(3600)
        if jobs > job_budget or days > day_budget:
            self.logger.warning(
                "%s (app %s): needs %d export job(s) and %d day(s) of data, but the limits allow "
                "%d job(s) and %d day(s) in the next hour: this report type alone takes at least "
                "%.1f hours (estimate).",
                self.name,
                app_id,
                jobs,
                days,
                job_budget,
                day_budget,
                max(create.seconds_for(jobs), day_limiter.seconds_for(days)) / 3600,
            )
        everyone = max(create.seconds_for(jobs * sharing), day_limiter.seconds_for(days * sharing))
        if sharing > 1 and everyone >= 3600:
            self.logger.warning(
                "%s: if each of the %d selected Custom Exports report types needs as much, all "
                "of them take at least %.1f hours (estimate). Select fewer report types, or a "
                "later start_date, for a shorter first run.",
                self.name,
                sharing,
                everyone / 3600,
            )

    def _export_window(
        self, context: dict, app_id: str, start: dt.datetime, end: dt.datetime, pending: dict | None
    ) -> t.Iterator[dict]:
        period = f"{branch_time(start)} to {branch_time(end)}"
        handle, files, done, lines = None, None, [], 0
        if pending and pending.get("handle"):
            handle, done = pending["handle"], list(pending.get("files_done") or [])
            # A state of an older version holds no count: its earlier files' lines are unknown.
            lines = pending.get("lines_done", 0 if not done else None)
            files = self._wait_for_job(app_id, handle, period, resumed=True)
            if files is None:
                self.logger.warning(
                    "%s (app %s): the export job of %s left by the last run is gone or failed at "
                    "Branch; exporting the window again.%s",
                    self.name,
                    app_id,
                    period,
                    f" Rows of the {len(done)} files read before are emitted again (same primary keys)."
                    if done
                    else "",
                )
                done, lines = [], 0
        if files is None:
            handle = self._create_job(app_id, start, end)
            # Saved before waiting: a run stopped now resumes this job instead of creating another.
            yield self._save_progress(start, end, handle, done, lines)
            files = self._wait_for_job(app_id, handle, period)
            if files is None:
                raise FatalAPIError(
                    f"{self.name}: Branch lost export job {handle} for {period} (app {app_id}) "
                    "right after creating it. Run the sync again."
                )
        for index in files_to_read(files.urls, done):
            url = files.urls[index]
            read = 0
            for record in self._records_of_file(app_id, handle, index, url, period):
                read += 1
                yield record
            done.append(file_done_entry(index, url))
            lines = None if lines is None else lines + read
            yield self._save_progress(start, end, handle, done, lines)
        yield from self._check_line_count(app_id, handle, period, files, lines)

    def _check_line_count(
        self,
        app_id: str,
        handle: str,
        period: str,
        files: JobFiles,
        lines: int | None,
    ) -> t.Iterator[Checkpoint]:
        """The job's files must hold the `lines_exported` Branch reports (data lines: its JSON
        files have no header), or the window fails before its bookmark moves (its progress
        cleared first)."""
        job = f"export job {handle} for {period} (app {app_id})"
        if files.lines is None or lines is None:
            self.logger.warning(
                "%s: %s: %s; its row count cannot be checked.",
                self.name,
                job,
                "Branch's answer has no lines_exported"
                if files.lines is None
                else "it was resumed from a state that holds no count of its files' lines",
            )
            return
        if lines == files.lines:
            return
        # The next run exports the window again with a new job, instead of resuming this one.
        yield Checkpoint(entries={PROGRESS: None})
        raise FatalAPIError(
            f"{self.name}: {job}: its {len(files.urls)} file(s) hold {lines} rows, but Branch "
            f"reports lines_exported={files.lines}. The bookmark stays before this window; the "
            "next run exports it again with a new job (rows emitted now are emitted again, with "
            "the same primary keys)."
        )

    def _save_progress(
        self,
        start: dt.datetime,
        end: dt.datetime,
        handle: str,
        done: list[str],
        lines: int | None,
    ) -> Checkpoint:
        """The window being exported, its job, the files already emitted (position and URL
        without its signed query) and the lines they held."""
        progress = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "handle": handle,
            "files_done": list(done),
        }
        if lines is not None:
            progress["lines_done"] = lines
        return Checkpoint(entries={PROGRESS: progress})

    def _records_of_file(
        self, app_id: str, handle: str, index: int, url: str, period: str
    ) -> t.Iterator[dict]:
        source = f"{self.name} {period} file {index + 1} ({file_label(url)})"
        typer = DictTyper(
            self.schema,
            source=source,
            constants={"app_id": app_id},
            logger=self.logger,
        )
        millis = RawMillis(self.schema)

        def fresh_url() -> str:
            # Found by its URL without query, as the daily files are: nothing documents that
            # a job's files are listed in the same order each time it is asked.
            files = self._wait_for_job(app_id, handle, period)
            fresh = same_file_in(files.urls if files is not None else [], index, url)
            if fresh is None:
                raise FatalAPIError(
                    f"{self.name}: export job {handle} no longer lists file {index + 1}."
                )
            return fresh

        # Every line is a JSON object holding the key (`json_lines`): anything else fails the file.
        key_columns = [k for k in self.primary_keys if k != "app_id"]
        lines = functools.partial(json_lines, key_columns=key_columns)
        for obj in self._reader.items(url, lines, refresh=fresh_url, source=source):
            yield millis.from_object(typer(obj), obj)


def _stream_class(report_type: str) -> type[CustomExportStream]:
    return type(
        f"CustomExport_{report_type}",
        (CustomExportStream,),
        {
            "name": f"custom_{report_type}",
            "report_type": report_type,
            "__doc__": f"Custom Exports `{report_type}`.",
        },
    )


STREAM_CLASSES = [_stream_class(report_type) for report_type in REPORT_TYPES]


def build_streams(tap) -> list:
    return [cls(tap) for cls in STREAM_CLASSES]
