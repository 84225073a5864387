"""The Cohort Export API's calls (cohort-export-api.md): a job submitted (`POST /v2/analytics`),
polled (`GET /v2/analytics/<id>`) until FINISHED, and its result URL asked again when the
signed one has expired.

Every call goes out through the stream's one request sender (`BranchStream.send`, handed in
as a callable) and the run's cohort limiter, so the tap keeps one sender and one pace.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import typing as t

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.errors import describe_response, json_answer

if t.TYPE_CHECKING:
    from tap_branch.api.ratelimit import Limiter
    from tap_branch.streams.cohort.reports import CohortReport
    from tap_branch.streams.cohort.settings import CohortSettings

Window = tuple[dt.date, dt.date]


@dataclasses.dataclass(frozen=True)
class CohortApi:
    """The cohort API calls of one stream (`name`, for messages and logs)."""

    #: The stream's `send` (`BranchStream.send`).
    send: t.Callable[..., requests.Response]
    name: str
    logger: logging.Logger
    #: The query parameter scoping every call ({"organization_id": ...} or {"app_id": ...}).
    scope: dict[str, str]
    limiter: Limiter
    settings: CohortSettings

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
            params={**self.scope, **(params or {})},
            json=body,
            limiter=self.limiter,
            tolerate=(400,) if refused else (),
        )
        if response.status_code == 400 and refused:
            raise refused(response)
        return json_answer(response, f"{self.name}: {what}")

    def submit(self, report: CohortReport, window: Window, *, ahead_of: str | None = None) -> str:
        """Submit the job of one window (`ahead_of`: while that stream syncs); its job id."""
        what = f"submitting {window[0]}..{window[1]}"

        def refused(response: requests.Response) -> FatalAPIError:
            # More measures than the request tables allow: the likeliest reason, said first.
            return FatalAPIError(
                f"{self.name}: Branch refused {what} ({describe_response(response)}): "
                f"{report.measures_limit_advice()}"
            )

        answer = self._call(
            "POST",
            "/v2/analytics",
            what,
            params={
                "limit": self.settings.record_limit,
                "format": self.settings.result_format,
            },
            body=report.query(*window),
            refused=refused if report.measures_in_doubt else None,
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

    def poll(self, job_id: str, window: Window) -> str | jobs.Pending:
        """A job's result URL once FINISHED (maybe empty: the job's fetch says so); an error for
        a failed job or one in a status Branch does not document."""
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

    def timed_out(self, job_id: str, window: Window, status: str, waited: float) -> FatalAPIError:
        return FatalAPIError(
            f"{self.name}: Branch's job {job_id} for {window[0]}..{window[1]} is still "
            f"{status} after {waited:.0f} s (cohort_job_timeout {self.settings.polling.timeout:g} s)."
        )

    def finished_url(self, job_id: str) -> str:
        """The signed result URL of a FINISHED job, asked again (for refreshing an expired URL)."""
        answer = self._poll(job_id)
        if _status(answer) != "FINISHED" or not answer.get("response_url"):
            raise FatalAPIError(
                f"{self.name}: job {job_id} no longer offers a result ({_status(answer) or 'no status'})"
            )
        return str(answer["response_url"])


def _status(answer: t.Mapping[str, t.Any]) -> str:
    """A job's status as Branch's documents spell it (upper case), whatever the answer's case."""
    return str(answer.get("status") or "").strip().upper()
