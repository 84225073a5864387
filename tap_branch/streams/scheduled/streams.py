"""Scheduled Log Exports (scheduled-export-jobs.txt): `scheduled_export_jobs` and `scheduled_export_rows`.

- `scheduled_export_jobs`: one partition per subscription (state partitioned by
  `subscription_id`), incremental on `end_date`. The bookmark is written by
  hand, job by job, once a job and all its rows are done: the SDK would move it
  record by record, before the rows of a job (its child stream) are complete.
- `scheduled_export_rows`: a child of the jobs stream, one context per
  SUCCEEDED job. Its state, partitioned by subscription, holds one progress
  marker (`job_id`, `files_done`, `rows_done`) for the job in progress, so a run
  stopped after file 1 of 3 resumes at file 2 of that job. A job read to its end keeps its
  marker until the STATE that moves the jobs' bookmark past it, which clears it: no STATE
  in between says the job's rows are still to be sent.

Signed URLs stay in memory (`ScheduledRun.live`) and never enter a child
context: the SDK logs contexts, and records/state carry URLs without query.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch import clock
from tap_branch.api.auth import AccessTokenAuthenticator
from tap_branch.api.stream import Branch2Stream
from tap_branch.clock import parse_moment
from tap_branch.config.apps import v2_app_ids
from tap_branch.config.credentials import ACCESS_TOKEN_WITH_APP
from tap_branch.config.errors import invalid_setting, parse_date
from tap_branch.config.retention import clamp_to_retention
from tap_branch.errors import InvalidStateError, SignedUrlExpiredError
from tap_branch.files.downloads import FileReader, file_label
from tap_branch.files.pipeline import FileSource, csv_items
from tap_branch.output.progress import progress_of
from tap_branch.records.items import Checkpoint, RowBatch
from tap_branch.records.schemas.ontology import RawMillis, millis_column, ontology_properties
from tap_branch.records.typers import CATCH_ALL_PROPERTIES, EXTRA, UNPARSED, DictTyper, Warnings
from tap_branch.streams.scheduled.api import (
    FAILED,
    SUCCEEDED,
    UNFINISHED,
    Job,
    ScheduledExportsApi,
    Subscription,
    configured_subscriptions,
)
from tap_branch.streams.scheduled.files import CSV, PARSERS, file_format

SETTINGS = [
    th.Property(
        "scheduled_exports",
        th.ArrayType(
            th.ObjectType(
                th.Property("subscription_id", th.StringType, required=True),
                th.Property("app_id", th.StringType, description="Default: the tap's app_id."),
                th.Property(
                    "name", th.StringType, description="A label for logs and the jobs' records."
                ),
            )
        ),
        description="Scheduled log export subscriptions to read. Default: every ACTIVE subscription of "
        "the app(s) whose destination is Branch's own storage (destination.subscription_type 'branch').",
    ),
    th.Property(
        "scheduled_export_accepted_mismatches",
        th.ArrayType(th.StringType),
        description="Job ids of scheduled exports whose row count you have checked and accept although it "
        "differs from Branch's lines_exported, or whose rows you accept losing: files gone at Branch (403 "
        "past its 7-day retention; a subscription's first run skips those jobs with a warning), a job "
        "Branch reports FAILED, or one SUCCEEDED without files and without lines_exported. Any other "
        "such job fails the run and keeps its bookmark.",
    ),
]

#: Outcomes of a job's rows, as the rows stream reports them to the jobs stream.
DONE, MISMATCH = "done", "mismatch"
#: Branch keeps a job's files this long ("Typically data is accessible via API for 7 days").
RETENTION = dt.timedelta(days=7)
ACCEPTING_SETTING = "scheduled_export_accepted_mismatches"


#: Branch writes a job's files after its end_date (the day must end first) and keeps them
#: `RETENTION` from then: for this long past `RETENTION` after the end_date they may still be
#: there, so a first run asks for them rather than skip the job by the clock.
WRITTEN_WITHIN = dt.timedelta(days=1)


def past_retention(job: Job) -> bool:
    """Whether Branch no longer keeps the job's files: `RETENTION` after its end_date."""
    return clock.now() - job.end > RETENTION


def surely_gone(job: Job) -> bool:
    """Whether the job's files are gone at Branch even if written late (`WRITTEN_WITHIN`)."""
    return clock.now() - job.end > RETENTION + WRITTEN_WITHIN


class ExportIntegrityError(FatalAPIError):
    """Rows read from a job's files do not add up to its `lines_exported`, or its files are gone."""


@dataclasses.dataclass
class ScheduledRun:
    """What the two streams of one tap run share."""

    #: Subscriptions to sync, by id (filled once per run).
    by_id: dict[str, Subscription] = dataclasses.field(default_factory=dict)
    listed: bool = False
    #: Jobs whose rows are being read, with their live signed URLs.
    live: dict[tuple[str, str], Job] = dataclasses.field(default_factory=dict)
    outcomes: dict[tuple[str, str], str] = dataclasses.field(default_factory=dict)
    #: The rows stream's state of a subscription whose job is read to its end: its progress
    #: marker is cleared when the jobs stream moves its bookmark past the job (`_mark_done`).
    read_to_end: dict[str, dict] = dataclasses.field(default_factory=dict)
    #: Jobs a subscription's first run asks for although past `RETENTION` (not `surely_gone`):
    #: files that answer 403 are skipped like the jobs surely gone, with a warning.
    first_run_past_retention: set[str] = dataclasses.field(default_factory=set)
    failures: list[str] = dataclasses.field(default_factory=list)
    flags: dict[str, t.Any] = dataclasses.field(default_factory=dict)


class _ScheduledStream(Branch2Stream):
    credentials = ACCESS_TOKEN_WITH_APP

    def __init__(self, tap: t.Any, run: ScheduledRun) -> None:
        super().__init__(tap)
        self.run = run
        self.api = ScheduledExportsApi(self, run.flags)

    @cached_property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(self.config.get("access_token") or "")

    def accepted_or_failure(self, job: Job, message: str, advice: str) -> bool:
        """Whether the user accepted losing `job`'s rows (`ACCEPTING_SETTING`: a warning says
        so). Otherwise an ERROR and a failure of the run, raised once every subscription has
        synced; the caller keeps the bookmark before the job."""
        if job.job_id in set(self.config.get(ACCEPTING_SETTING) or []):
            self.logger.warning("Accepted by '%s': %s.", ACCEPTING_SETTING, message)
            return True
        self.logger.error(
            "%s. %s The bookmark stays before the job. To accept losing its rows, add its job_id "
            "to the setting '%s'.",
            message,
            advice,
            ACCEPTING_SETTING,
        )
        self.run.failures.append(f"{message} (accept with '{ACCEPTING_SETTING}')")
        return False


# --- jobs ------------------------------------------------------------------------


class ScheduledExportJobsStream(_ScheduledStream):
    name = "scheduled_export_jobs"
    primary_keys = ("subscription_id", "job_id")
    replication_key = "end_date"
    bookmarks_per_record = False  # finished jobs move it (`_mark_done`)
    #: Checked when a --state is loaded (`tap_branch.config.state_checks`).
    state_keys: t.ClassVar[dict] = {
        "jobs_at_bookmark": {"type": "array", "items": {"type": "string"}},
    }
    schema = th.PropertiesList(
        th.Property("subscription_id", th.StringType, required=True),
        th.Property(
            "job_id",
            th.StringType,
            required=True,
            description="Branch's persistent id of the job run.",
        ),
        th.Property("app_id", th.StringType),
        th.Property(
            "subscription_name",
            th.StringType,
            description="The subscription's name or report type.",
        ),
        th.Property(
            "status",
            th.StringType,
            description="PENDING_GENERATION, PENDING_UPLOAD, RUNNING, SUCCEEDED or FAILED.",
        ),
        th.Property(
            "start_date", th.DateTimeType, description="Earliest time of the exported data (UTC)."
        ),
        th.Property(
            "end_date",
            th.DateTimeType,
            description="Latest time of the exported data (UTC), inclusive through its last millisecond.",
        ),
        th.Property(
            "lines_exported", th.IntegerType, description="Rows Branch says the job's files hold."
        ),
        th.Property("file_count", th.IntegerType),
        th.Property(
            "export_url",
            th.ArrayType(th.StringType),
            description="The job's files, without the signed query string (not downloadable as they are).",
        ),
    ).to_dict()

    # --- partitions: the subscriptions ---------------------------------------

    @property
    def partitions(self) -> list[dict]:
        return [{"subscription_id": sid} for sid in self.subscriptions()]

    def subscriptions(self) -> dict[str, Subscription]:
        if not self.run.listed:
            found = configured_subscriptions(self.config) or self._listed_subscriptions()
            self.run.by_id = {sub.subscription_id: sub for sub in found}
            self.run.listed = True
        return self.run.by_id

    def _listed_subscriptions(self) -> list[Subscription]:
        found = []
        for app_id in v2_app_ids(self.config, [self.name]):
            for item in self.api.list_subscriptions(app_id):
                sid = item.get("subscription_id") or item.get("id")
                status = str(item.get("subscription_status") or item.get("status") or "").upper()
                if not sid:
                    continue
                destination_of, report = _objects_of(item, sid, app_id)
                destination = destination_of.get("subscription_type")
                if status != "ACTIVE" or destination != "branch":
                    self.logger.info(
                        "Skipping scheduled export subscription %s of app %s: status %s, destination %s "
                        "(only ACTIVE subscriptions stored by Branch can be downloaded).",
                        sid,
                        app_id,
                        status or "unknown",
                        destination or "unknown",
                    )
                    continue
                found.append(
                    Subscription(
                        subscription_id=str(sid),
                        app_id=str(item.get("app_id") or app_id),
                        name=item.get("name") or report.get("report_type"),
                        response_format=report.get("response_format"),
                        compression=report.get("response_format_compression"),
                    )
                )
        if not found:
            self.logger.warning(
                "No ACTIVE scheduled export subscription with destination 'branch' for app(s) %s; "
                "nothing to read. Set 'scheduled_exports' to name subscriptions.",
                ", ".join(v2_app_ids(self.config, [self.name])) or "(none)",
            )
        return found

    # --- sync ------------------------------------------------------------------

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        if context:
            yield from self._jobs_of(self.subscriptions()[context["subscription_id"]], context)
            if context == self.partitions[-1]:
                self._raise_failures()

    def _jobs_of(self, sub: Subscription, context: dict) -> t.Iterator[dict]:
        state = self.get_context_state(context)
        bookmark = (
            parse_moment(state["replication_key_value"])
            if state.get("replication_key_value")
            else None
        )
        done_at_bookmark = set(state.get("jobs_at_bookmark") or [])
        start = parse_moment(str(self.config["start_date"]))
        end_limit = None
        if self.config.get("end_date"):
            last_day = parse_date(str(self.config["end_date"]), "end_date") + dt.timedelta(days=1)
            end_limit = dt.datetime(
                last_day.year, last_day.month, last_day.day, tzinfo=dt.timezone.utc
            )
        jobs = self.api.list_jobs(sub)
        gone = set() if bookmark else self._gone_before_first_run(sub, jobs, start, end_limit)
        for job in jobs:
            if bookmark and (
                job.end < bookmark or (job.end == bookmark and job.job_id in done_at_bookmark)
            ):
                continue
            if job.covers_through < start:
                continue
            if job.job_id in gone:
                continue  # its files are gone at Branch: named by the first run's warning
            if end_limit and parse_moment(job.start_date or job.end_date) >= end_limit:
                break
            where = f"Job {job.job_id} of {sub.label} (end_date {job.end_date})"
            if job.status == FAILED:
                yield job.record(sub)
                if not self._failed_job_accepted(sub, job):
                    return  # the bookmark stays before this job
                yield self._mark_done(context, job)
                continue
            if job.status != SUCCEEDED:
                yield job.record(sub)
                self.logger.info(
                    "%s is %s%s; stopping this subscription here. The next run starts again from this job.",
                    where,
                    job.status or "without a status",
                    "" if job.status in UNFINISHED else " (a status this tap does not know)",
                )
                return
            key = (sub.subscription_id, job.job_id)
            self.run.live[key] = job
            try:
                yield job.record(sub)  # the SDK syncs the job's rows (child stream) right here
            finally:
                self.run.live.pop(key, None)
            if self.run.outcomes.pop(key, DONE) == MISMATCH:
                return  # the bookmark stays before this job
            yield self._mark_done(context, job)

    def _gone_before_first_run(
        self,
        sub: Subscription,
        jobs: list[Job],
        start: dt.datetime,
        end_limit: dt.datetime | None,
    ) -> set[str]:
        """The ids of the jobs a subscription's first run (no bookmark) skips: those from
        `start_date` on whose files are surely gone at Branch (`surely_gone`), with one warning
        naming the period lost, as Daily Exports v3 clamps its days. The jobs only just past
        retention are asked for, and skipped if their files answer 403 (`_files_gone`). A job a
        run stopped inside is never skipped; once a job is bookmarked, a later one that falls
        out of retention before it is read fails: that loss is not the start_date's."""
        retained_from = clock.now() - RETENTION - WRITTEN_WITHIN
        if start >= clock.now() - RETENTION:
            return set()
        half_read = self._job_in_progress(sub)
        old = [
            job
            for job in jobs
            if start <= job.covers_through
            and past_retention(job)
            and job.job_id != half_read
            and not (end_limit and parse_moment(job.start_date or job.end_date) >= end_limit)
        ]
        gone = [job for job in old if surely_gone(job)]
        self.run.first_run_past_retention.update(job.job_id for job in old if not surely_gone(job))
        if gone:
            clamp_to_retention(
                start,
                retained_from,
                logger=self.logger,
                where=f"{self.name} ({sub.label}, first run)",
                kept=f"Branch keeps a scheduled export job's files only {RETENTION.days} days "
                f"({len(gone)} job(s) past them)",
                last_lost=gone[-1].end,
                show=lambda moment: moment.isoformat(timespec="seconds"),
            )
        return {job.job_id for job in gone}

    def _job_in_progress(self, sub: Subscription) -> str | None:
        """The job of `sub` a run stopped inside (the rows stream's progress marker), if any."""
        rows = self.tap_state.get("bookmarks", {}).get(ScheduledExportRowsStream.name) or {}
        for partition in rows.get("partitions") or []:
            if (partition.get("context") or {}).get("subscription_id") == sub.subscription_id:
                return (partition.get("progress") or {}).get("job_id")
        return None

    def generate_child_contexts(self, record: dict, context: dict | None) -> t.Iterable[dict]:
        # Only a SUCCEEDED job has files; its context names it, the URLs stay in `run.live`.
        if (record["subscription_id"], record["job_id"]) in self.run.live:
            yield {"subscription_id": record["subscription_id"], "job_id": record["job_id"]}

    def _mark_done(self, context: dict, job: Job) -> Checkpoint:
        """Move the bookmark past a finished job (several jobs may share one end_date), and
        clear the rows stream's progress marker of the job in the same STATE."""
        rows_state = self.run.read_to_end.pop(context["subscription_id"], None)
        if rows_state is not None:
            rows_state.pop("progress", None)
        state = self.get_context_state(context)
        current = state.get("replication_key_value")
        if current and parse_moment(current) == job.end:
            at_bookmark = sorted({*(state.get("jobs_at_bookmark") or []), job.job_id})
        else:
            at_bookmark = [job.job_id]
        return Checkpoint(bookmark=job.end_date, entries={"jobs_at_bookmark": at_bookmark})

    def _failed_job_accepted(self, sub: Subscription, job: Job) -> bool:
        """A job Branch reports FAILED has no files: its rows are lost unless Branch runs it again."""
        return self.accepted_or_failure(
            job,
            f"job {job.job_id} of {sub.label} ({job.start_date or '?'} to {job.end_date}) FAILED at "
            "Branch: it has no files, so its rows are not loaded",
            "If Branch runs it again, the next run reads it.",
        )

    def _raise_failures(self) -> None:
        if self.run.failures:
            failures, self.run.failures = self.run.failures, []
            raise ExportIntegrityError(
                f"{len(failures)} scheduled export job(s) failed their row count check, could "
                "not be read or have no files: " + " | ".join(failures)
            )


def _objects_of(item: dict, sid: t.Any, app_id: str) -> tuple[dict, dict]:
    """A listed subscription's `destination` and `report`, which must be objects (missing: {}).

    Otherwise the error names the setting that avoids the listing (and passes the connection
    check as it is: Branch accepted the token, its listing is what cannot be read)."""
    destination, report = item.get("destination") or {}, item.get("report") or {}
    for field, value in (("destination", destination), ("report", report)):
        if not isinstance(value, dict):
            raise invalid_setting(
                f"Branch listed scheduled export subscription {sid} of app {app_id} with a "
                f"'{field}' that is {json.dumps(value)[:60]}, not an object; "
                "the tap reads destination.subscription_type and report.response_format from it. "
                "Name the subscriptions to read in the setting 'scheduled_exports'."
            )
    return destination, report


# --- rows ------------------------------------------------------------------------

#: Typers kept per JSON file, one per distinct set of keys.
_MAX_TYPERS_PER_FILE = 64

_ROW_FIELDS = [
    th.Property("subscription_id", th.StringType, required=True),
    th.Property("job_id", th.StringType, required=True),
    th.Property(
        "file_index",
        th.IntegerType,
        required=True,
        description="Position of the row's file in the job's export_url list (0 = first).",
    ),
    th.Property(
        "row_number",
        th.IntegerType,
        required=True,
        description="Number of the row in its file (1 = first data row; a CSV header is not counted).",
    ),
    th.Property("app_id", th.StringType),
]
_FIXED = {prop.name for prop in _ROW_FIELDS}


def rows_schema() -> dict:
    """Declared before any file is read: the fixed fields, every Branch event-ontology column
    (typed), and the catch-all objects for columns the ontology does not know."""
    known = [prop for prop in ontology_properties() if prop.name not in _FIXED]
    return th.PropertiesList(*_ROW_FIELDS, *known, *CATCH_ALL_PROPERTIES).to_dict()


class ScheduledExportRowsStream(_ScheduledStream):
    name = "scheduled_export_rows"
    parent_stream_type = ScheduledExportJobsStream
    state_partitioning_keys = ("subscription_id",)
    primary_keys = ("subscription_id", "job_id", "file_index", "row_number")
    schema = rows_schema()
    #: Checked when a --state is loaded (`tap_branch.config.state_checks`).
    state_keys: t.ClassVar[dict] = {
        "progress": {
            "type": "object",
            "required": ["job_id", "files_done", "rows_done"],
            "properties": {
                "job_id": {"type": "string"},
                "files_done": {"type": "integer", "minimum": 0},
                "rows_done": {"type": "integer", "minimum": 0},
            },
        }
    }

    def __init__(self, tap: t.Any, run: ScheduledRun) -> None:
        super().__init__(tap, run)
        self._reader = FileReader(self)
        self._warnings = Warnings(self.logger)

    @property
    def emit_activate_version_messages(self) -> bool:
        # Each sync of this stream is one job, not the whole table: a new table
        # version per job would let targets delete the other jobs' rows.
        return False

    def get_records(self, context: dict | None) -> t.Iterator[dict]:
        key = (context["subscription_id"], context["job_id"])
        job, sub = self.run.live[key], self.run.by_id[context["subscription_id"]]
        progress = self.get_context_state(context).get("progress") or {}
        files_done = rows_done = 0
        if progress.get("job_id") == job.job_id:
            files_done, rows_done = int(progress["files_done"]), int(progress["rows_done"])
            self._check_progress(context, job, files_done, rows_done)
            self.logger.info(
                "Resuming job %s of %s after file %d of %d (%d rows already emitted).",
                job.job_id,
                sub.label,
                files_done,
                len(job.urls),
                rows_done,
            )
        try:
            for index in range(files_done, len(job.urls)):
                for record in self._records_of_file(sub, job, index):
                    # a dict, or a batch of a csv file's rows (`tap_branch.records.columnar`)
                    rows_done += record.count if isinstance(record, RowBatch) else 1
                    yield record
                progress = {"job_id": job.job_id, "files_done": index + 1, "rows_done": rows_done}
                yield Checkpoint(entries={"progress": progress})
        except SignedUrlExpiredError:
            outcome = self._files_gone(sub, job, rows_done)
        else:
            outcome = self._check_count(sub, job, rows_done)
        self.run.outcomes[key] = outcome
        if outcome == DONE:
            progress_of(self).unit_done(self.name, f"job {job.job_id} of {sub.label}")
            # The marker that says every file is read stays until the STATE that moves the
            # jobs' bookmark past the job (`_mark_done`): a run stopped in between resumes
            # after the job's last file, and never sends its rows again.
            self.run.read_to_end[sub.subscription_id] = self.get_context_state(context)
        else:
            yield Checkpoint(entries={"progress": None})  # the job is read again from its start

    def _check_progress(self, context: dict, job: Job, files_done: int, rows_done: int) -> None:
        """A progress marker this tap could have written for `job`, or `InvalidStateError`:
        read as it is, an impossible one skips files or rows of the job with exit 0."""
        problem = None
        if files_done > len(job.urls):
            problem = f"files_done {files_done} but the job has {len(job.urls)} file(s)"
        elif files_done == 0 and rows_done:
            problem = f"rows_done {rows_done} before any file is done"
        elif job.lines_exported is not None and rows_done > job.lines_exported:
            problem = f"rows_done {rows_done} but Branch exported {job.lines_exported} rows"
        if problem:
            raise InvalidStateError(
                f"State of stream '{self.name}', partition {context['subscription_id']}, key "
                f"'progress' for job {job.job_id}: {problem}. It is not a state this tap wrote; "
                "remove that 'progress' entry to read the job again from its first file."
            )

    def _records_of_file(
        self, sub: Subscription, job: Job, index: int
    ) -> t.Iterator[dict | RowBatch]:
        url = job.urls[index]
        where = f"file {index + 1} of {len(job.urls)} of job {job.job_id} ({file_label(url)})"
        fmt = file_format(url, sub.response_format, sub.compression, where=where)
        constants = {
            "subscription_id": sub.subscription_id,
            "job_id": job.job_id,
            "app_id": sub.app_id,
            "file_index": index,
        }
        if fmt == CSV:
            source = FileSource(
                url,
                where,
                constants,
                schema_for=self._file_schema,
                refresh=lambda: self._fresh_url(sub, job, index),
                number_rows=True,
            )
            yield from csv_items(
                self._reader,
                source,
                deselected=self.columnar_plan,
                route=self.route,
                warnings=self._warnings,
                logger=self.logger,
            )
            return
        items = self._reader.items(
            url, PARSERS[fmt], refresh=lambda: self._fresh_url(sub, job, index), source=where
        )
        typers: dict[frozenset, tuple[DictTyper, RawMillis]] = {}
        for number, obj in enumerate(items, 1):
            keys = frozenset(obj)
            if keys not in typers:  # rows of one file share their keys: built once or twice a file
                if len(typers) >= _MAX_TYPERS_PER_FILE:
                    typers.clear()  # JSON that omits nulls varies its keys: memory stays bounded
                schema = self._file_schema(keys)
                typers[keys] = (
                    DictTyper(schema, source=where, constants=constants, logger=self.logger),
                    RawMillis(schema),
                )
            dict_typer, millis = typers[keys]
            record = dict_typer(obj)
            if millis:
                millis.from_object(record, obj)
            record["row_number"] = number
            yield record

    def _file_schema(self, columns: t.Iterable[str]) -> dict:
        """The stream's schema cut down to one file's columns.

        The declared schema is the whole ontology (~250 columns) while a subscription
        exports a few dozen: records carry the file's columns (null when empty), and
        the ontology columns the file does not have are left out (null to a target)
        rather than written as hundreds of nulls per row.
        """
        properties = self.schema["properties"]
        wanted = [*_FIXED, UNPARSED, EXTRA]
        for column in columns:
            wanted.extend((column, millis_column(column)))
        return {
            "type": "object",
            "properties": {k: properties[k] for k in wanted if k in properties},
        }

    def _fresh_url(self, sub: Subscription, job: Job, index: int) -> str:
        """A new signed URL for file `index`: the job asked again, else the jobs listed again."""
        fresh = self.api.get_job(sub, job.job_id)
        if fresh is None:
            fresh = next((j for j in self.api.list_jobs(sub) if j.job_id == job.job_id), None)
        if fresh is None or len(fresh.urls) != len(job.urls):
            raise SignedUrlExpiredError(
                f"Branch no longer lists job {job.job_id} with its {len(job.urls)} files"
            )
        job.urls = fresh.urls  # the later files use the fresh URLs too
        return fresh.urls[index]

    def _files_gone(self, sub: Subscription, job: Job, rows: int) -> str:
        """A job whose files answer 403 even with fresh URLs.

        Inside Branch's retention the files exist: an error, and the next run tries again.
        Past it they are gone for good: skipped with a warning on a subscription's first run
        when no row of the job was read (`first_run_past_retention`: the clamp of `start_date`),
        else an error too, until the user accepts the loss by listing the job in
        `ACCEPTING_SETTING`. Either way the bookmark stays before the job
        until then, so exit 0 never hides rows that were not read.
        """
        age = clock.now() - job.end
        message = (
            f"job {job.job_id} of {sub.label} (end_date {job.end_date}): its files answer 403 even "
            f"with fresh URLs; {rows} of {job.lines_exported} rows were read"
        )
        if not past_retention(job):
            self.logger.error(
                "%s, %d days after the job, inside Branch's %d-day retention. The bookmark stays "
                "before the job; the next run tries again.",
                message,
                age.days,
                RETENTION.days,
            )
            self.run.failures.append(f"{message} (inside Branch's retention: run again)")
            return MISMATCH
        if not rows and job.job_id in self.run.first_run_past_retention:
            self.logger.warning(
                "%s (%s, first run): Branch keeps a scheduled export job's files only %d days "
                "and those of job %s answer 403; the period %s to %s can no longer be fetched and "
                "is skipped.",
                self.name,
                sub.label,
                RETENTION.days,
                job.job_id,
                job.start_date or "?",
                job.end_date,
            )
            return DONE
        if job.job_id in set(self.config.get(ACCEPTING_SETTING) or []):
            self.logger.warning(
                "Files gone past Branch's retention, accepted by '%s': %s.",
                ACCEPTING_SETTING,
                message,
            )
            return DONE
        self.logger.error(
            "%s, %d days after the job, past Branch's %d-day retention: they are gone at Branch. "
            "The bookmark stays before the job. To accept losing its rows, add its job_id to the "
            "setting '%s'.",
            message,
            age.days,
            RETENTION.days,
            ACCEPTING_SETTING,
        )
        self.run.failures.append(
            f"{message} (past Branch's retention: accept with '{ACCEPTING_SETTING}')"
        )
        return MISMATCH

    def _check_count(self, sub: Subscription, job: Job, rows: int) -> str:
        if job.lines_exported is None and not job.urls:
            # Nothing says the job is empty (lines_exported 0 would): its rows may be lost.
            accepted = self.accepted_or_failure(
                job,
                f"job {job.job_id} of {sub.label} (end_date {job.end_date}) SUCCEEDED without "
                "files (export_url) and without lines_exported, so nothing says it is empty",
                "The next run asks Branch again.",
            )
            return DONE if accepted else MISMATCH
        if job.lines_exported is None:
            self.logger.warning(
                "Job %s of %s has no lines_exported: its %d rows cannot be checked.",
                job.job_id,
                sub.label,
                rows,
            )
            return DONE
        if rows == job.lines_exported:
            return DONE
        message = (
            f"job {job.job_id} of {sub.label} (end_date {job.end_date}): read {rows} rows from "
            f"{len(job.urls)} file(s), Branch reports lines_exported={job.lines_exported}"
        )
        if job.job_id in set(self.config.get(ACCEPTING_SETTING) or []):
            self.logger.warning(
                "Row count mismatch accepted by '%s': %s", ACCEPTING_SETTING, message
            )
            return DONE
        self.logger.error(
            "Row count mismatch, %s. The job fails: the bookmark stays before it and the next run reads it "
            "again. If you have checked its files and accept them, add its job_id to the setting "
            "'scheduled_export_accepted_mismatches'.",
            message,
        )
        self.run.failures.append(message)
        return MISMATCH


def build_streams(tap: t.Any) -> list:
    run = ScheduledRun()
    return [ScheduledExportJobsStream(tap, run), ScheduledExportRowsStream(tap, run)]
