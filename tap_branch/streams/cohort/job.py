"""One cohort window as a report job (`tap_branch.api.jobs.ReportJob`): submitted, polled
and its result fetched through the stream's `CohortApi`; a result at the record limit
gives the jobs of the window's halves."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import tempfile
import typing as t

import msgspec
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.api.date_windows import halves
from tap_branch.errors import DownloadError
from tap_branch.files.downloads import file_label
from tap_branch.files.result_files import csv_dicts, json_array_items
from tap_branch.streams.cohort.results import RowExpander

if t.TYPE_CHECKING:
    from tap_branch.files.downloads import FileReader
    from tap_branch.streams.cohort.api import CohortApi, Window
    from tap_branch.streams.cohort.reports import CohortReport


@dataclasses.dataclass(eq=False)
class CohortJob(jobs.ReportJob):
    """The job of one window of one cohort report."""

    report: CohortReport
    window: Window
    api: CohortApi
    #: The stream's file reader (its session, timeout and retries).
    reader: FileReader
    job_id: str | None = None
    #: The signed URL of the result, once FINISHED (maybe empty: `fetch` says so).
    url: str | None = None

    kind: t.ClassVar[str] = "cohort job"

    @property
    def owner(self) -> str:
        return self.api.name

    @property
    def key(self) -> Window:
        return self.window

    @property
    def window_text(self) -> str:
        return f"{self.window[0]}..{self.window[1]}"

    def submit(self, *, ahead_of: str | None = None) -> None:
        self.job_id = self.api.submit(self.report, self.window, ahead_of=ahead_of)

    def poll(self) -> jobs.Finished | jobs.Pending:
        answer = self.api.poll(str(self.job_id), self.window)
        if isinstance(answer, jobs.Pending):
            return answer
        self.url = answer
        return jobs.Finished()

    def timed_out(self, status: str, waited: float) -> Exception:
        return self.api.timed_out(str(self.job_id), self.window, status, waited)

    def unused(self) -> None:
        self.api.logger.info(
            "%s: the job for %s..%s, queued ahead, is not used: this run plans other windows.",
            self.owner,
            *self.window,
        )

    def fetch(self) -> jobs.Fetched | jobs.SplitNeeded:
        """The result's records; the jobs of the window's halves when it reached the record
        limit (it may be cut); an error for a single day at the limit."""
        window, limit = self.window, self.api.settings.record_limit
        spool, rows, expander = self._spool()
        if rows >= limit and window[0] < window[1]:
            spool.close()
            self.api.logger.info(
                "%s: %s..%s returned %d rows, the record limit: it may be cut; splitting it in half.",
                self.owner,
                *window,
                rows,
            )
            return jobs.SplitNeeded(
                [
                    dataclasses.replace(self, window=half, job_id=None, url=None)
                    for half in halves(*window)
                ]
            )
        if rows >= limit:
            spool.close()
            raise self._day_at_the_limit(window[0], rows)
        try:  # a whole result (not one cut at the limit) has every measure asked for
            expander.check_measures(rows)
        except BaseException:
            spool.close()
            raise
        return jobs.Fetched(rows, _replay(spool, expander))

    def _day_at_the_limit(self, day: dt.date, rows: int) -> FatalAPIError:
        """A single cohort day whose result reached the limit: Branch may have cut rows, and no
        smaller window can be asked for."""
        return FatalAPIError(
            f"{self.owner}: cohort day {day} alone returned {rows} rows, the record limit "
            f"(cohort_record_limit {self.api.settings.record_limit}): Branch may have cut rows of report "
            f"'{self.report.name}' for that day, so the run stops before its bookmark passes it. "
            "Give the report fewer dimensions or add filters (split it into several reports), or "
            "raise cohort_record_limit if Branch allows your account more rows."
        )

    def _spool(self) -> tuple[t.IO[bytes], int, RowExpander]:
        """Read the result once into a temporary file of its rows; count them; the expander
        that turns them into records (`_replay`).

        Whether a result reached the record limit is known only at its end, and records
        already emitted could not be taken back before splitting the window. Spooling to
        disk (not memory) keeps memory flat. Rows, not records, are spooled: a row is one
        record per band and measure (~50 here), and encoding and decoding every record
        once more cost about a third of a result's processing.
        """
        name, job_id, window, url = self.owner, self.job_id, self.window, self.url
        if not url:
            raise FatalAPIError(f"{name}: job {job_id} is FINISHED without a response_url")
        label = file_label(url)
        expand = RowExpander(
            self.report,
            {"report": self.report.name, **self._scope_constants()},
            source=f"{name} (report '{self.report.name}'), job {job_id} for "
            f"{window[0]}..{window[1]} ({label})",
        )
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - handed to the caller, closed by _replay
        encode = msgspec.json.Encoder().encode
        rows = 0
        try:
            for row in self.reader.items(
                url, self._parser, refresh=lambda: self.api.finished_url(str(job_id))
            ):
                rows += 1
                expand.check(row, rows)
                spool.write(encode(row) + b"\n")
        except DownloadError as exc:  # the file, retried: its error names the file, not the job
            spool.close()
            raise DownloadError(
                f"{name}: the result of job {job_id} for {window[0]}..{window[1]}: {exc}"
            ) from None
        except ValueError as exc:
            spool.close()
            raise FatalAPIError(
                f"{name}: the result of job {job_id} ({label}) is not readable: {exc}"
            ) from None
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, rows, expand

    @property
    def _parser(self) -> t.Callable[[t.IO[bytes]], t.Iterator[dict]]:
        """The reader of this report's result files; a CSV header must name the key columns."""
        if self.api.settings.result_format == "json":
            return json_array_items
        return functools.partial(csv_dicts, key_columns=("measure", self.report.date_dimension))

    def _scope_constants(self) -> dict[str, t.Any]:
        constants: dict[str, t.Any] = {"organization_id": None, "app_id": None}
        constants.update(self.api.scope)
        return constants


def _replay(spool: t.IO[bytes], expand: RowExpander) -> t.Iterator[dict]:
    decode = msgspec.json.Decoder().decode
    with spool:
        for line in spool:
            yield from expand(decode(line))
