"""One Aggregate Exports window as a report job (`tap_branch.api.jobs.ReportJob`): submitted
(`POST /v2/analytics`), polled (`GET /v2/analytics/<job_id>`) until FINISHED, its result
file spooled to disk and counted; a result at the record limit gives the jobs of the
window's halves, a single day at the limit fails naming it. The stream turns the rows into
records (`AggregateStream`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import tempfile
import typing as t

import msgspec
import requests
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.api.date_windows import halves
from tap_branch.errors import DownloadError, json_answer
from tap_branch.files.downloads import file_label
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.streams.analytics.query import Window, owner_label

if t.TYPE_CHECKING:
    from tap_branch.api.ratelimit import Limiter
    from tap_branch.files.downloads import FileReader
    from tap_branch.streams.analytics.reports import QueryReport

PATH = "/v2/analytics"


@dataclasses.dataclass(frozen=True)
class AggregateApi:
    """What an Aggregate Exports job takes from its stream: the stream's `send` (a callable),
    the shared limiter, its file reader and logger, and the report's settings."""

    send: t.Callable[..., requests.Response]
    limiter: Limiter
    reader: FileReader
    logger: logging.Logger
    #: The stream's name, for messages.
    name: str
    report: QueryReport
    record_limit: int
    result_format: str
    timeout: float

    def call(
        self, method: str, path: str, scope: dict[str, str], what: str, **kwargs: t.Any
    ) -> dict:
        params = {**scope, **(kwargs.pop("params", None) or {})}
        response = self.send(method, path, what=what, params=params, limiter=self.limiter, **kwargs)
        return json_answer(response, what)


@dataclasses.dataclass(eq=False)
class AggregateJob(jobs.ReportJob):
    """The job of one window (first day, day after the last) of one report and scope."""

    api: AggregateApi
    #: The partition: {"app_id": ...} or {"organization_id": ...}.
    scope: dict[str, str]
    window: Window
    job_id: str | None = None
    url: str | None = None

    kind: t.ClassVar[str] = "Aggregate Exports job"

    @property
    def owner(self) -> str:
        return f"{self.api.name} ({owner_label(self.scope)})"

    @property
    def key(self) -> Window:
        return self.window

    @property
    def window_text(self) -> str:
        first, after_last = self.window
        return f"{first}..{after_last - dt.timedelta(days=1)}"

    @property
    def where(self) -> str:
        """The stream, scope and window, as every message of the job starts."""
        return f"{self.owner}, window {self.window_text}"

    @property
    def label(self) -> str:
        return f"{self.where}, job {self.job_id}"

    def submit(self, *, ahead_of: str | None = None) -> None:
        answer = self.api.call(
            "POST",
            PATH,
            self.scope,
            f"{self.where}: submitting its job",
            params={"limit": self.api.record_limit, "format": self.api.result_format},
            json=self.api.report.body(*self.window),
        )
        job_id = answer.get("job_id")
        if not job_id:
            raise FatalAPIError(
                f"{self.where}: Branch accepted no job: {answer.get('error_message') or answer}"
            )
        self.job_id = str(job_id)

    def poll(self) -> jobs.Finished | jobs.Pending:
        answer = self._status()
        if isinstance(answer, jobs.Pending):
            return answer
        self.url = answer
        return jobs.Finished()

    def timed_out(self, status: str, waited: float) -> Exception:
        return FatalAPIError(
            f"{self.label}: Branch's job is still {status} after {waited:.0f} s "
            f"(aggregate_job_timeout {self.api.timeout:g} s)."
        )

    def failure(self, error: Exception) -> Exception:
        """`error` as it is: every message of the job starts with its stream, scope and window
        (`where`), and a wait past 'rate_limit_max_wait' fails as it does elsewhere."""
        return error

    def fetch(self) -> jobs.Fetched | jobs.SplitNeeded:
        """The result's rows (dicts as the file has them); the jobs of the window's halves
        when it reached the record limit; an error for a single day at the limit."""
        spool, rows = self._spool()
        if rows < self.api.record_limit:
            return jobs.Fetched(rows, _rows(spool))
        spool.close()
        first, after_last = self.window
        last = after_last - dt.timedelta(days=1)
        if first == last:
            raise FatalAPIError(
                f"{self.label}: day {first} alone returned {rows} rows, the record limit "
                f"(aggregate_record_limit {self.api.record_limit}): Branch may have cut rows; "
                "give the report fewer dimensions or filters (split it into several)."
            )
        self.api.logger.info("%s returned %d rows, the limit: asking in halves.", self.label, rows)
        return jobs.SplitNeeded(
            [
                dataclasses.replace(
                    self, window=(a, b + dt.timedelta(days=1)), job_id=None, url=None
                )
                for a, b in halves(first, last)
            ]
        )

    def _status(self) -> str | jobs.Pending:
        # The job's own path on the configured host, never `status_url`: the token goes nowhere else.
        label = self.label
        answer = self.api.call("GET", f"{PATH}/{self.job_id}", self.scope, f"{label}: polling it")
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

    def _finished_url(self) -> str:
        answer = self._status()
        if isinstance(answer, jobs.Pending):
            raise FatalAPIError(f"{self.label}: the job no longer offers its result")
        return answer

    def _spool(self) -> tuple[t.IO[bytes], int]:
        """The finished job's result rows in a temporary file (memory stays flat; whether the
        result reached the limit is known only at its end), and their count."""
        url = str(self.url)
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _rows or the caller
        encode = msgspec.json.Encoder().encode
        rows = 0
        try:
            try:
                for row in self.api.reader.items(url, self._parser, refresh=self._finished_url):
                    rows += 1
                    spool.write(encode(row) + b"\n")
            except DownloadError as exc:  # retried already: its error names the file
                raise DownloadError(f"{self.label}: the result: {exc}") from None
            except ValueError as exc:
                raise FatalAPIError(
                    f"{self.label}: the result ({file_label(url)}) is not readable: {exc}"
                ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, rows

    @property
    def _parser(self) -> t.Callable[[t.IO[bytes]], t.Iterator[dict]]:
        if self.api.result_format == "json":
            return json_array_items
        key_columns = ("timestamp", self.api.report.aggregation)
        return functools.partial(csv_dicts, key_columns=key_columns)


def _rows(spool: t.IO[bytes]) -> t.Iterator[dict]:
    decode = msgspec.json.Decoder().decode
    with spool:
        for line in spool:
            yield decode(line)
