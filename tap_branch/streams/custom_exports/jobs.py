"""Custom Exports: creating an export job (`POST /v2/logs`) and waiting for its files
(polled by the loop cohort jobs use too, `tap_branch.api.jobs`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re

from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.errors import branch_error_message, describe_response, json_answer
from tap_branch.records.typers import parse_count
from tap_branch.streams.custom_exports.cache import CustomExportsCache
from tap_branch.streams.custom_exports.readiness import branch_time

_NOT_AVAILABLE = "is not available for exports"
_DONE = {"complete", "completed", "success", "succeeded"}
_FAILED = {"fail", "failed", "cancelled", "canceled", "error"}


def job_days(start: dt.datetime, end: dt.datetime) -> int:
    """Days of data an export job spends out of Branch's days-per-hour limit."""
    return max(1, math.ceil((end - start).total_seconds() / 86400))


class ExportJobs:
    """Mixed into `CustomExportStream`: the export jobs of one report type."""

    def _create_job(self, app_id: str, start: dt.datetime, end: dt.datetime) -> str:
        dropped = self.caches.of(CustomExportsCache).dropped_fields
        fields = [f for f in self.fields if f not in dropped.get(self.report_type, set())]
        days = job_days(start, end)
        day_limiter = self._limiter(
            "custom_exports_days_limits", f"branch-custom-exports-days:{app_id}"
        )
        for _ in range(days):
            day_limiter.acquire(
                f"{self.name}: a {days}-day export job for app {app_id}", self.logger
            )
        create = self._limiter("custom_exports_create_limits", "branch-custom-exports-create")
        # Branch names one refused field per answer: drop it and ask again, at most once per field.
        for _ in range(len(fields) + 1):
            body = {
                "report_type": self.report_type,
                "start_date": branch_time(start),
                # Branch's end_date includes its last second through the final millisecond.
                "end_date": branch_time(end - dt.timedelta(seconds=1)),
                "fields": fields,
                "limit": 15_000_000,
                "timezone": "UTC",
                "response_format": "json",
                "response_format_compression": "gz",
                "allow_multiple_files": True,
            }
            if self.config.get("custom_exports_filter") is not None:
                body["filter"] = self.config["custom_exports_filter"]
            response = self.send(
                "POST",
                "/v2/logs",
                what=f"creating the {self.report_type} export job (app {app_id})",
                params={"app_id": app_id},
                json=body,
                limiter=create,
                tolerate=lambda r: r.status_code == 400 and _NOT_AVAILABLE in (r.text or ""),
            )
            if response.status_code == 400:
                message = branch_error_message(response) or response.text
                missing = [
                    f for f in fields if re.search(rf"(?<![\w.]){re.escape(f)}(?![\w.\[])", message)
                ]
                if not missing or len(missing) == len(fields):
                    raise FatalAPIError(
                        f"{self.name}: Branch refuses the requested fields: {describe_response(response)}. "
                        "Adjust setting 'custom_exports_fields'."
                    )
                self.logger.info(
                    "%s: Branch says %s is not available for exports of '%s'; asking without it.",
                    self.name,
                    ", ".join(missing),
                    self.report_type,
                )
                dropped.setdefault(self.report_type, set()).update(missing)
                fields = [f for f in fields if f not in missing]
                continue
            self._log_dropped_fields_once(dropped.get(self.report_type))
            what = f"creating the {self.report_type} export job (app {app_id})"
            answer = json_answer(response, what)
            handle = answer.get("handle") or answer.get("request_handle")
            if not isinstance(handle, (str, int)) or isinstance(handle, bool):
                raise FatalAPIError(
                    f"{self.name}: Branch's answer to {what} has no 'handle' or 'request_handle': "
                    f"{describe_response(response)}"
                )
            self.logger.info(
                "%s (app %s): export job %s created for %s to %s.",
                self.name,
                app_id,
                handle,
                branch_time(start),
                branch_time(end),
            )
            return str(handle)
        raise FatalAPIError(  # each answer named a field it had not named before: cannot happen
            f"{self.name}: Branch refused more fields than were requested. "
            "Adjust setting 'custom_exports_fields'."
        )

    def _log_dropped_fields_once(self, dropped: set[str] | None) -> None:
        """One warning a run per report type, with every field Branch refused."""
        logged = self.caches.of(CustomExportsCache).dropped_logged
        if not dropped or self.report_type in logged:
            return
        logged.add(self.report_type)
        self.logger.warning(
            "%s: Branch says field(s) %s are not available for exports of '%s'; they are requested "
            "no more this run and stay null. Remove them from 'custom_exports_fields' to silence this.",
            self.name,
            ", ".join(sorted(dropped)),
            self.report_type,
        )

    def _wait_for_job(
        self, app_id: str, handle: str, period: str, *, resumed: bool = False
    ) -> JobFiles | None:
        """The job's files once complete; None when Branch does not know the handle (404),
        or when a job `resumed` from an earlier run has failed (the caller makes a new one)."""
        status_limiter = self._limiter(
            "custom_exports_status_limits", "branch-custom-exports-status"
        )
        timeout = self.config.get("custom_exports_job_timeout", 3 * 3600)
        polling = jobs.Polling(
            first_wait=0,
            wait=float(self.config.get("custom_exports_poll_seconds", 15)),
            timeout=float(timeout),
        )

        job_name = f"export job {handle} for {period} (app {app_id})"

        def check(job: jobs.Job[str]) -> JobFiles | None | jobs.Pending:
            what = f"checking the {self.report_type} export job {handle} (app {app_id})"
            response = self.send(
                "GET",
                f"/v2/logs/{handle}",
                what=what,
                params={"app_id": app_id},
                limiter=status_limiter,
                tolerate=(404,),
            )
            if response.status_code == 404:
                return None
            answer = json_answer(response, what)
            if not isinstance(answer.get("status"), str) or not answer["status"]:
                # Polling an answer that is no status would only wait for the job timeout.
                raise FatalAPIError(
                    f"{self.name}: Branch's answer about {job_name} has no 'status': "
                    f"{describe_response(response)}. The bookmark stays where it was."
                )
            status = answer["status"].lower()
            if status in _DONE:
                return self._files_of_complete_job(answer, job_name)
            if status in _FAILED and resumed:
                return None
            if status in _FAILED:
                raise FatalAPIError(
                    f"{self.name}: Branch's export job {handle} for {period} (app {app_id}) ended '{status}': "
                    f"{answer.get('message') or answer.get('error') or 'no reason given'}. Run the sync again to retry."
                )
            return jobs.Pending(status)

        def timed_out(job: jobs.Job[str], status: str, waited: float) -> FatalAPIError:
            return FatalAPIError(
                f"{self.name}: export job {handle} for {period} (app {app_id}) is still '{status}' after "
                f"{timeout} s (setting 'custom_exports_job_timeout'). The next run resumes waiting for it."
            )

        job = polling.start(period, handle, f"{self.name}: {job_name}")
        return jobs.wait(polling, job, check=check, timed_out=timed_out)

    def _files_of_complete_job(self, answer: dict, job_name: str) -> JobFiles:
        """A complete job's file URLs and `lines_exported`. A job without files is an empty
        window only when Branch says so (`lines_exported` 0): reading nothing otherwise would
        move the bookmark past the whole window."""
        urls = _urls_of(answer)
        try:
            lines = parse_count(answer.get("lines_exported"))
        except ValueError:
            raise FatalAPIError(
                f"{self.name}: {job_name} is complete, but its lines_exported is "
                f"{answer['lines_exported']!r}, not a count. The bookmark stays where it was."
            ) from None
        if not urls and lines != 0:
            said = "no lines_exported" if lines is None else f"lines_exported={lines}"
            raise FatalAPIError(
                f"{self.name}: {job_name} is complete with {said}, but Branch's answer names no "
                f"file URL (its keys: {', '.join(sorted(answer))}). The bookmark stays where it was."
            )
        return JobFiles(urls, lines)


@dataclasses.dataclass(frozen=True)
class JobFiles:
    """What a complete export job holds: its files' URLs, in Branch's order, and the number
    of rows Branch says they hold (`lines_exported`; None when Branch does not say)."""

    urls: list[str]
    lines: int | None


def _urls_of(answer: dict) -> list[str]:
    urls: list[str] = []
    for key in ("response_url", "response_urls", "urls", "export_url"):
        value = answer.get(key)
        if isinstance(value, str) and value:
            urls.append(value)
        elif isinstance(value, list):
            urls.extend(url for url in value if isinstance(url, str) and url)
    return list(dict.fromkeys(urls))
