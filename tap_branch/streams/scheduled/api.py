"""Branch's Scheduled Log Exports API: subscriptions and their export jobs.

Endpoints (api2 host, `Access-Token` header, `app_id` query parameter):
- `GET  /scheduled-exports/logs/subscriptions`                        all subscriptions of an app
- `POST /scheduled-exports/logs/subscription/{id}/jobs`               the jobs of a subscription
  (the document says POST for this read; a 405 switches the run to GET)
- `GET  /scheduled-exports/logs/subscription/{id}/job/{job_id}`       one job, with fresh signed URLs

Jobs carry pre-signed S3 URLs. They live only in `Job.urls`, in memory, for
the downloads; everything that leaves the tap uses `Job.record()`, where each
URL has lost its query string (the signature).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t

from singer_sdk.exceptions import FatalAPIError

from tap_branch.config.apps import default_app_id
from tap_branch.config.errors import invalid_setting
from tap_branch.errors import NoAnswerError, RequestRejected, json_answer
from tap_branch.records.typers import parse_count, parse_datetime
from tap_branch.redaction import strip_query

if t.TYPE_CHECKING:
    import requests

    from tap_branch.api.stream import BranchStream

SUBSCRIPTIONS_PATH = "/scheduled-exports/logs/subscriptions"
JOBS_PATH = "/scheduled-exports/logs/subscription/{subscription_id}/jobs"
JOB_PATH = "/scheduled-exports/logs/subscription/{subscription_id}/job/{job_id}"

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
#: Statuses of a job Branch is still producing: its files are not there yet.
UNFINISHED = frozenset({"PENDING_GENERATION", "PENDING_UPLOAD", "RUNNING"})

#: The document's end_date "includes data through the final millisecond".
_LAST_MILLISECOND = dt.timedelta(microseconds=999_000)


@dataclasses.dataclass(frozen=True)
class Subscription:
    subscription_id: str
    app_id: str
    name: str | None = None
    #: csv | json | parquet, when known (listed subscriptions); files' names decide otherwise.
    response_format: str | None = None
    compression: str | None = None
    #: From the `scheduled_exports` setting (errors then name the setting).
    configured: bool = False

    @property
    def label(self) -> str:
        named = f" ({self.name})" if self.name else ""
        return f"subscription {self.subscription_id}{named} of app {self.app_id}"


@dataclasses.dataclass
class Job:
    job_id: str
    subscription_id: str
    status: str
    start_date: str | None
    end_date: str
    end: dt.datetime
    lines_exported: int | None
    #: Live pre-signed URLs: never logged, stored or emitted (nor in the job's repr).
    urls: list[str] = dataclasses.field(repr=False)

    @property
    def covers_through(self) -> dt.datetime:
        return self.end + _LAST_MILLISECOND

    @property
    def sort_key(self) -> tuple[dt.datetime, str]:
        return (self.end, self.job_id)

    def record(self, subscription: Subscription) -> dict[str, t.Any]:
        return {
            "subscription_id": self.subscription_id,
            "job_id": self.job_id,
            "app_id": subscription.app_id,
            "subscription_name": subscription.name,
            "status": self.status,
            "start_date": self.start_date,
            "end_date": self.end_date,
            "lines_exported": self.lines_exported,
            "file_count": len(self.urls),
            "export_url": [strip_query(url) for url in self.urls],
        }


def parse_job(raw: t.Any, subscription_id: str) -> Job:
    """One job of Branch's answer, checked; a clear error when a field is unusable."""
    if not isinstance(raw, dict) or not raw.get("job_id"):
        raise FatalAPIError(
            f"Branch listed a job of subscription {subscription_id} without a job_id"
        )
    job_id = str(raw["job_id"])
    where = f"job {job_id} of subscription {subscription_id}"
    try:
        end_date = parse_datetime(raw["end_date"])
        start_date = parse_datetime(raw["start_date"]) if raw.get("start_date") else None
    except (KeyError, ValueError, TypeError):
        raise FatalAPIError(
            f"{where}: start_date/end_date are not dates ({raw.get('start_date')!r}, {raw.get('end_date')!r})"
        ) from None
    urls = raw.get("export_url") or []
    if isinstance(urls, str):  # one URL instead of a list
        urls = [urls]
    if not isinstance(urls, list) or not all(isinstance(url, str) for url in urls):
        raise FatalAPIError(f"{where}: export_url is not a list of URLs")
    lines = raw.get("lines_exported")
    try:
        lines_exported = parse_count(lines)
    except ValueError:
        raise FatalAPIError(
            f"{where}: lines_exported is {lines!r}, not a count of rows (a non-negative integer)"
        ) from None
    return Job(
        job_id=job_id,
        subscription_id=subscription_id,
        status=str(raw.get("status") or "").upper(),
        start_date=start_date,
        end_date=end_date,
        end=dt.datetime.fromisoformat(end_date),
        lines_exported=lines_exported,
        urls=list(urls),
    )


def configured_subscriptions(config: t.Mapping[str, t.Any]) -> list[Subscription]:
    """The `scheduled_exports` setting, with each entry's app_id defaulted from the tap's."""
    entries = config.get("scheduled_exports") or []
    default_app = default_app_id(config)
    subscriptions = []
    for position, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not entry.get("subscription_id"):
            raise invalid_setting(
                f"Setting 'scheduled_exports' entry {position} has no 'subscription_id'."
            )
        app_id = entry.get("app_id") or default_app
        if not app_id:
            raise invalid_setting(
                f"Setting 'scheduled_exports' entry {position} ({entry['subscription_id']}) needs an "
                "'app_id' (or set the tap's 'app_id')."
            )
        subscriptions.append(
            Subscription(
                str(entry["subscription_id"]), str(app_id), entry.get("name"), configured=True
            )
        )
    return subscriptions


class ScheduledExportsApi:
    """The requests of this API, sent through a stream (its session, auth, retries, errors)."""

    def __init__(self, stream: BranchStream, shared: dict) -> None:
        self.stream = stream
        #: Per-tap flags shared by the family's streams (the POST/GET choice).
        self.shared = shared

    def _send(
        self, method: str, path: str, app_id: str, what: str, *, tolerate: tuple[int, ...] = ()
    ) -> requests.Response:
        return self.stream.send(
            method, path, what=what, params={"app_id": app_id}, tolerate=tolerate
        )

    # --- subscriptions --------------------------------------------------------

    def list_subscriptions(self, app_id: str) -> list[dict]:
        body = json_answer(
            self._send(
                "GET", SUBSCRIPTIONS_PATH, app_id, f"listing the subscriptions of app {app_id}"
            ),
            f"the subscriptions of app {app_id}",
            (dict, list),
        )
        if isinstance(body, dict):  # a wrapped list, whatever Branch calls the key
            body = next(
                (v for k, v in body.items() if k in ("subscriptions", "data", "results")), body
            )
        if not isinstance(body, list):
            raise FatalAPIError(f"Branch's subscriptions of app {app_id} are not a list")
        return [item for item in body if isinstance(item, dict)]

    # --- jobs -----------------------------------------------------------------

    def list_jobs(self, subscription: Subscription) -> list[Job]:
        """Every job Branch lists for the subscription, oldest end_date first."""
        path = JOBS_PATH.format(subscription_id=subscription.subscription_id)
        what = f"listing the jobs of {subscription.label}"
        try:
            if not self.shared.get("jobs_by_get"):
                response = self._send("POST", path, subscription.app_id, what, tolerate=(405,))
                if response.status_code == 405:
                    self.stream.logger.info(
                        "POST %s answered 405; listing jobs with GET from now on.", JOBS_PATH
                    )
                    self.shared["jobs_by_get"] = True
            if self.shared.get("jobs_by_get"):
                response = self._send("GET", path, subscription.app_id, what)
        except FatalAPIError as exc:
            raise self._explained(exc, subscription) from None
        body = json_answer(response, f"the jobs of {subscription.label}", (dict, list))
        if isinstance(body, dict):
            body = next((v for k, v in body.items() if k in ("jobs", "data", "results")), body)
        if not isinstance(body, list):
            raise FatalAPIError(f"Branch's jobs of {subscription.label} are not a list")
        jobs = [parse_job(item, subscription.subscription_id) for item in body]
        return sorted(jobs, key=lambda job: job.sort_key)

    def get_job(self, subscription: Subscription, job_id: str) -> Job | None:
        """One job with fresh URLs; None when Branch no longer knows it."""
        path = JOB_PATH.format(subscription_id=subscription.subscription_id, job_id=job_id)
        response = self._send(
            "GET", path, subscription.app_id, f"reading job {job_id}", tolerate=(404,)
        )
        if response.status_code == 404:
            return None
        return parse_job(json_answer(response, f"job {job_id}"), subscription.subscription_id)

    @staticmethod
    def _explained(exc: FatalAPIError, subscription: Subscription) -> FatalAPIError:
        if not subscription.configured or isinstance(exc, NoAnswerError):
            return exc  # no answer is no refusal: the entry may well be right
        message = (
            f"Branch refused to list the jobs of {subscription.label}, from setting 'scheduled_exports': "
            f"{exc}. Check the subscription_id and app_id of that entry (GET {SUBSCRIPTIONS_PATH} lists "
            "the subscriptions the access token can see)."
        )
        if isinstance(exc, RequestRejected):  # its status and text, for the connection test
            return RequestRejected(message, exc.status, exc.detail)
        return FatalAPIError(message)
