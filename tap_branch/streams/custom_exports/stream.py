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
1000/h, 100 days of data an hour per app) are kept by the tap's own limiter (settings below),
429s are still waited out by the base stream. A 400 saying a field "is not available for
exports" drops that field (warning) and retries once.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import time
import typing as t

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_branch.apps import configured_apps
from tap_branch.auth import AccessTokenAuthenticator
from tap_branch.client import Branch2Stream
from tap_branch.downloads import FileReader, file_label, json_lines
from tap_branch.errors import branch_error_message, describe_response
from tap_branch.ratelimit import shared_limiter
from tap_branch.schemas.event_topics import REPORT_TYPES
from tap_branch.schemas.ontology import RawMillis, ontology_properties
from tap_branch.settings import parse_date
from tap_branch.typing import CATCH_ALL_PROPERTIES, DictTyper

_UTC = dt.timezone.utc
_HOUR = dt.timedelta(hours=1)


#: Fields requested by default for event report types (`eo_*`, `*_blocked`).
EVENT_FIELDS = [
    "id",
    "name",
    "timestamp",
    "timestamp_iso",
    "origin",
    "attributed",
    "deep_linked",
    "first_event_for_user",
    "existing_user",
    "days_from_last_attributed_touch_to_event",
    "last_attributed_touch_type",
    "last_attributed_touch_timestamp",
    "last_attributed_touch_timestamp_iso",
    "last_attributed_touch_data_tilde_id",
    "last_attributed_touch_data_tilde_campaign",
    "last_attributed_touch_data_tilde_campaign_id",
    "last_attributed_touch_data_tilde_channel",
    "last_attributed_touch_data_tilde_feature",
    "last_attributed_touch_data_tilde_stage",
    "last_attributed_touch_data_tilde_tags",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_secondary_publisher",
    "last_attributed_touch_data_tilde_ad_set_name",
    "last_attributed_touch_data_tilde_ad_name",
    "last_attributed_touch_data_tilde_creative_name",
    "last_attributed_touch_data_custom_fields",
    "custom_data",
    "event_data_revenue",
    "event_data_revenue_in_usd",
    "event_data_currency",
    "event_data_transaction_id",
    "user_data_os",
    "user_data_os_version",
    "user_data_platform",
    "user_data_app_version",
    "user_data_geo_country_code",
    "user_data_geo_city_en",
    "user_data_idfa",
    "user_data_idfv",
    "user_data_aaid",
    "user_data_limit_ad_tracking",
    "user_data_developer_identity",
]
#: Cost rows: Branch does not document their fields per report type; these are the cost
#: columns of its ontology. One it does not offer is dropped at the first 400 (see above).
COST_FIELDS = [
    "timestamp",
    "timestamp_iso",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_campaign",
    "last_attributed_touch_data_tilde_campaign_id",
    "last_attributed_touch_data_tilde_ad_set_name",
    "last_attributed_touch_data_tilde_ad_set_id",
    "last_attributed_touch_data_tilde_ad_name",
    "last_attributed_touch_data_tilde_ad_id",
    "last_attributed_touch_data_tilde_channel",
    "user_data_os",
    "user_data_geo_country_code",
    "cost",
    "cost_in_usd",
    "cost_currency",
    "impressions",
    "clicks",
]
SKAN_FIELDS = [
    "id",
    "timestamp",
    "timestamp_iso",
    "skan_version",
    "skan_ad_network_id",
    "skan_campaign_id",
    "skan_source_app_id",
    "skan_conversion_value",
    "skan_redownload",
    "skan_fidelity_type",
    "skan_postback_sequence_index",
    "last_attributed_touch_data_tilde_advertising_partner_name",
    "last_attributed_touch_data_tilde_campaign",
    "user_data_os",
]

MAX_WINDOW_DAYS = 60
LOOKBACK_DAYS = 120
PROGRESS = "window_in_progress"
_NOT_AVAILABLE = "is not available for exports"
_DONE = {"complete", "completed", "success", "succeeded"}
_FAILED = {"fail", "failed", "cancelled", "canceled", "error"}


def _limits_property(name: str, default: list[tuple[int, float]], what: str) -> th.Property:
    return th.Property(
        name,
        th.ArrayType(
            th.ObjectType(
                th.Property("limit", th.IntegerType, required=True),
                th.Property("seconds", th.NumberType, required=True),
            )
        ),
        default=[{"limit": limit, "seconds": seconds} for limit, seconds in default],
        description=f"Custom Exports: {what}, as windows of at most `limit` in `seconds` "
        "(Branch's documented limits by default; lower them if other tools share the account).",
    )


SETTINGS = [
    th.Property(
        "custom_exports_fields",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Custom Exports: the fields to request, by report type (`eo_click`: [...]) or for every "
        "report type (`default`). Default: a curated set of Branch's event ontology per kind of "
        "report (events, cost, SKAdNetwork). Fields Branch says are not available are dropped with a warning.",
    ),
    th.Property(
        "custom_exports_filter",
        th.AnyType(),
        description="Custom Exports: a Branch `filter` expression sent with every export job, e.g. "
        '["eq", "attributed", "true"]. Default: none.',
    ),
    th.Property(
        "custom_exports_window_days",
        th.IntegerType,
        default=MAX_WINDOW_DAYS,
        description="Custom Exports: days per export job (at most 60, Branch's maximum). Smaller windows "
        "mean more jobs (25 an hour at most) but smaller files and earlier bookmarks.",
    ),
    th.Property(
        "custom_exports_poll_seconds",
        th.NumberType,
        default=15,
        description="Custom Exports: seconds between two status checks of an export job.",
    ),
    th.Property(
        "custom_exports_job_timeout",
        th.NumberType,
        default=3 * 3600,
        description="Custom Exports: seconds to wait for one export job before failing the run (the job's "
        "handle stays in state: the next run resumes waiting for it).",
    ),
    th.Property(
        "custom_exports_ready_max_checks",
        th.IntegerType,
        default=48,
        description="Custom Exports: how many hours back from now to look for the last hour Branch has "
        "finished loading (one `/v2/data/ready` request per hour).",
    ),
    th.Property(
        "custom_exports_assumed_delay_hours",
        th.NumberType,
        default=6,
        description="Custom Exports: for report types the readiness check does not know, data is taken "
        "as complete up to this many hours ago (Branch documents at most 6).",
    ),
    _limits_property("custom_exports_create_limits", [(10, 60), (25, 3600)], "export job creation"),
    _limits_property("custom_exports_status_limits", [(50, 60), (1000, 3600)], "job status checks"),
    _limits_property("custom_exports_days_limits", [(100, 3600)], "days of data requested per app"),
]


def default_fields(report_type: str) -> list[str]:
    if report_type == "cost":
        return list(COST_FIELDS)
    if report_type.startswith("skadnetwork_"):
        return list(SKAN_FIELDS)
    return list(EVENT_FIELDS)


def fields_for(config: t.Mapping[str, t.Any], report_type: str) -> list[str]:
    chosen = config.get("custom_exports_fields") or {}
    fields = chosen.get(report_type) or chosen.get("default") or default_fields(report_type)
    return list(dict.fromkeys(str(field) for field in fields))


def app_ids(config: t.Mapping[str, t.Any]) -> list[str]:
    """The apps of the v2 APIs: each `apps` entry's app_id, else the flat `app_id`."""
    if config.get("apps"):
        return [app.app_id for app in configured_apps(config)]
    return [str(config["app_id"])] if config.get("app_id") else []


def utc_now() -> dt.datetime:
    return dt.datetime.now(_UTC)


def floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def branch_time(moment: dt.datetime) -> str:
    return moment.astimezone(_UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_moment(text: str) -> dt.datetime:
    text = text.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    moment = dt.datetime.fromisoformat(text)
    return moment.replace(tzinfo=_UTC) if moment.tzinfo is None else moment.astimezone(_UTC)


class CustomExportStream(Branch2Stream):
    """One Custom Exports report type, per app, incremental by the hour Branch has finished."""

    credentials_needed = "v2-app"
    # Opt-in: every report type costs export jobs out of Branch's 25 an hour and days out of
    # its 100 an hour, so running all 31 unasked would take hours. Select the ones you need.
    selected_by_default = False
    replication_key = "timestamp"
    is_sorted = False
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
        return [{"app_id": app_id} for app_id in app_ids(self.config)]

    @property
    def authenticator(self) -> AccessTokenAuthenticator:
        return AccessTokenAuthenticator(str(self.config.get("access_token") or ""))

    def _limiter(self, setting: str, name: str):
        windows = [(int(w["limit"]), float(w["seconds"])) for w in self.config.get(setting) or []]
        if not windows:
            windows = [(int(w["limit"]), float(w["seconds"])) for w in _setting_default(setting)]
        return shared_limiter(name, windows, self.logger)

    # --- HTTP ----------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        app_id: str,
        *,
        body: dict | None = None,
        limiter: t.Any = None,
        what: str = "",
        accept: t.Callable[[t.Any], bool] = lambda response: False,
    ):
        """One API call with the base stream's retries; `accept(response)` lets a caller read
        an error answer itself instead of failing."""
        request = self.build_prepared_request(
            method=method,
            url=f"{self.url_base}{path}",
            params={"app_id": app_id},
            json=body,
            headers=self.http_headers,
        )
        auth = self.authenticator

        def send():
            if limiter is not None:
                limiter.acquire(what)
            response = self.requests_session.send(auth(request), timeout=self.timeout)
            if not accept(response):
                self.validate_response(response)
            return response

        return self.request_decorator(send)()

    # --- readiness -----------------------------------------------------------

    def last_ready_end(
        self, app_id: str, start: dt.datetime, limit: dt.datetime
    ) -> dt.datetime | None:
        """The end of the last hour Branch has finished loading (after `start`), at most `limit`."""
        hour = floor_hour(min(limit, utc_now())) - _HOUR  # the last hour that has ended
        checks = int(self.config.get("custom_exports_ready_max_checks") or 48)
        while hour >= floor_hour(start) and checks > 0:
            checks -= 1
            ready = self._hour_is_ready(app_id, hour)
            if ready is None:
                delay = float(self.config.get("custom_exports_assumed_delay_hours", 6))
                return min(limit, floor_hour(utc_now() - dt.timedelta(hours=delay)))
            if ready:
                return min(limit, hour + _HOUR)
            hour -= _HOUR
        return None

    def _hour_is_ready(self, app_id: str, hour: dt.datetime) -> bool | None:
        """Branch's readiness of one hour; None when it does not know this report type."""
        body = {
            "date": hour.strftime("%Y-%m-%d %H:%M:%S"),
            "warehouse_meta_type": "EVENT",
            "topic": self.report_type,
            "app_id": int(app_id) if app_id.isdigit() else app_id,
        }
        response = self._call(
            "POST", "/v2/data/ready", app_id, body=body, accept=lambda r: r.status_code == 400
        )
        if response.status_code == 400:
            seen: set = self._tap.run_cache.setdefault("custom_ready_unknown", set())
            if self.report_type not in seen:
                seen.add(self.report_type)
                self.logger.warning(
                    "%s: Branch's readiness check does not know report type '%s' (%s); taking data "
                    "as complete up to %s hours ago (setting custom_exports_assumed_delay_hours).",
                    self.name,
                    self.report_type,
                    branch_error_message(response) or response.status_code,
                    self.config.get("custom_exports_assumed_delay_hours", 6),
                )
            return None
        try:
            return bool(response.json().get("data_ready"))
        except (ValueError, AttributeError):
            raise FatalAPIError(
                f"Branch's readiness answer is not a JSON object: {describe_response(response)}"
            ) from None

    # --- windows -------------------------------------------------------------

    def _start(self, context: dict) -> dt.datetime:
        bookmark = self.get_context_state(context).get("replication_key_value")
        if bookmark:
            start = parse_moment(str(bookmark))
        else:
            day = parse_date(str(self.config["start_date"]), "start_date")
            start = dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)
        # The 120 days count when Branch receives the job; an hour's margin covers a long run.
        earliest = floor_hour(utc_now() - dt.timedelta(days=LOOKBACK_DAYS)) + 2 * _HOUR
        if start < earliest:
            self.logger.warning(
                "%s (app %s): Custom Exports reach back only %d days; events from %s to %s can no "
                "longer be fetched and are skipped. Starting at %s.",
                self.name,
                context["app_id"],
                LOOKBACK_DAYS,
                branch_time(start),
                branch_time(earliest),
                branch_time(earliest),
            )
            return earliest
        return start

    def _limit(self) -> dt.datetime:
        if self.config.get("end_date"):
            day = parse_date(str(self.config["end_date"]), "end_date") + dt.timedelta(days=1)
            return min(utc_now(), dt.datetime(day.year, day.month, day.day, tzinfo=_UTC))
        return utc_now()

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
        for window_start, window_end in windows:
            yield from self._export_window(context, app_id, window_start, window_end, pending)
            pending = None
            state.pop(PROGRESS, None)
            state["replication_key"] = self.replication_key
            state["replication_key_value"] = window_end.isoformat()
            self.state_manager.is_flushed = False
            self._write_state_message()

    def _increment_stream_state(self, latest_record: dict, *, context: dict | None = None) -> None:
        """Records never move the bookmark; finished windows do (`get_records`)."""

    def _export_window(
        self, context: dict, app_id: str, start: dt.datetime, end: dt.datetime, pending: dict | None
    ) -> t.Iterator[dict]:
        period = f"{branch_time(start)} to {branch_time(end)}"
        handle, urls, done = None, None, []
        if pending and pending.get("handle"):
            handle, done = pending["handle"], list(pending.get("files_done") or [])
            urls = self._wait_for_job(app_id, handle, period, resumed=True)
            if urls is None:
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
                done = []
        if urls is None:
            handle = self._create_job(app_id, start, end)
            # Saved before waiting: a run stopped now resumes this job instead of creating another.
            self._save_progress(context, start, end, handle, done)
            urls = self._wait_for_job(app_id, handle, period)
            if urls is None:
                raise FatalAPIError(
                    f"{self.name}: Branch lost export job {handle} for {period} (app {app_id}) "
                    "right after creating it. Run the sync again."
                )
        for index, url in enumerate(urls):
            label = file_label(url)
            if label in done:
                continue
            yield from self._records_of_file(app_id, handle, index, url, period)
            done.append(label)
            self._save_progress(context, start, end, handle, done)

    def _save_progress(
        self, context: dict, start: dt.datetime, end: dt.datetime, handle: str, done: list[str]
    ) -> None:
        """The window being exported, its job and the files already emitted (labels, no query)."""
        self.get_context_state(context)[PROGRESS] = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "handle": handle,
            "files_done": list(done),
        }
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _records_of_file(
        self, app_id: str, handle: str, index: int, url: str, period: str
    ) -> t.Iterator[dict]:
        typer = DictTyper(
            self.schema,
            source=f"{self.name} {period} file {index + 1} ({file_label(url)})",
            constants={"app_id": app_id},
            logger=self.logger,
        )
        millis = RawMillis(self.schema)

        def fresh_url() -> str:
            urls = self._wait_for_job(app_id, handle, period) or []
            if index >= len(urls):
                raise FatalAPIError(
                    f"{self.name}: export job {handle} no longer lists file {index + 1}."
                )
            return urls[index]

        skipped = 0
        for obj in self._reader.items(url, json_lines, refresh=fresh_url):
            if isinstance(obj, dict):
                yield millis.from_object(typer(obj), obj)
            else:
                skipped += 1
        if skipped:
            # Never silently: a line that is not a JSON object has no fields to emit.
            self.logger.warning(
                "%s %s file %d (%s): %d lines were not JSON objects and were skipped.",
                self.name,
                period,
                index + 1,
                file_label(url),
                skipped,
            )

    # --- jobs ----------------------------------------------------------------

    def _create_job(self, app_id: str, start: dt.datetime, end: dt.datetime) -> str:
        dropped: dict = self._tap.run_cache.setdefault("custom_dropped_fields", {})
        fields = [f for f in self.fields if f not in dropped.get(self.report_type, set())]
        days = max(1, math.ceil((end - start).total_seconds() / 86400))
        day_limiter = self._limiter(
            "custom_exports_days_limits", f"branch-custom-exports-days:{app_id}"
        )
        for _ in range(days):
            day_limiter.acquire(f"{self.name}: a {days}-day export job for app {app_id}")
        create = self._limiter("custom_exports_create_limits", "branch-custom-exports-create")
        for attempt in (1, 2):
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
            response = self._call(
                "POST",
                "/v2/logs",
                app_id,
                body=body,
                limiter=create,
                what=f"creating the {self.report_type} export job",
                accept=lambda r: r.status_code == 400 and _NOT_AVAILABLE in (r.text or ""),
            )
            if response.status_code == 400:
                message = branch_error_message(response) or response.text
                missing = [
                    f for f in fields if re.search(rf"(?<![\w.]){re.escape(f)}(?![\w.\[])", message)
                ]
                if attempt == 2 or not missing:
                    raise FatalAPIError(
                        f"{self.name}: Branch refuses the requested fields: {describe_response(response)}. "
                        "Adjust setting 'custom_exports_fields'."
                    )
                self.logger.warning(
                    "%s: Branch says field(s) %s are not available for exports of '%s'; requesting "
                    "without them (they stay null). Remove them from 'custom_exports_fields' to silence this.",
                    self.name,
                    ", ".join(missing),
                    self.report_type,
                )
                dropped.setdefault(self.report_type, set()).update(missing)
                fields = [f for f in fields if f not in missing]
                continue
            try:
                answer = response.json()
            except ValueError:
                answer = None
            handle = (
                (answer or {}).get("handle") or (answer or {}).get("request_handle")
                if isinstance(answer, dict)
                else None
            )
            if not handle:
                raise FatalAPIError(
                    f"{self.name}: Branch's answer to the export request has no 'handle' or 'request_handle'."
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
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_for_job(
        self, app_id: str, handle: str, period: str, *, resumed: bool = False
    ) -> list[str] | None:
        """The job's file URLs once complete; None when Branch does not know the handle (404),
        or when a job `resumed` from an earlier run has failed (the caller makes a new one)."""
        status_limiter = self._limiter(
            "custom_exports_status_limits", "branch-custom-exports-status"
        )
        poll = float(self.config.get("custom_exports_poll_seconds", 15))
        deadline = time.monotonic() + float(self.config.get("custom_exports_job_timeout", 3 * 3600))
        while True:
            response = self._call(
                "GET",
                f"/v2/logs/{handle}",
                app_id,
                limiter=status_limiter,
                what=f"checking the {self.report_type} export job",
                accept=lambda r: r.status_code == 404,
            )
            if response.status_code == 404:
                return None
            try:
                answer = response.json()
            except ValueError:
                answer = {}
            status = str(answer.get("status", "")).lower() if isinstance(answer, dict) else ""
            if status in _DONE:
                urls = _urls_of(answer)
                lines = answer.get("lines_exported")
                if not urls and lines not in (None, 0, "0"):
                    # Reading nothing would move the bookmark past the whole window.
                    raise FatalAPIError(
                        f"{self.name}: export job {handle} for {period} (app {app_id}) is complete with "
                        f"{lines} lines, but Branch's answer names no file URL (its keys: "
                        f"{', '.join(sorted(answer))}). The bookmark stays where it was."
                    )
                return urls
            if status in _FAILED and resumed:
                return None
            if status in _FAILED:
                raise FatalAPIError(
                    f"{self.name}: Branch's export job {handle} for {period} (app {app_id}) ended '{status}': "
                    f"{answer.get('message') or answer.get('error') or 'no reason given'}. Run the sync again to retry."
                )
            if time.monotonic() > deadline:
                raise FatalAPIError(
                    f"{self.name}: export job {handle} for {period} (app {app_id}) is still '{status}' after "
                    f"{self.config.get('custom_exports_job_timeout', 3 * 3600)} s (setting "
                    "'custom_exports_job_timeout'). The next run resumes waiting for it."
                )
            time.sleep(poll)


def _urls_of(answer: dict) -> list[str]:
    urls: list[str] = []
    for key in ("response_url", "response_urls", "urls", "export_url"):
        value = answer.get(key)
        if isinstance(value, str) and value:
            urls.append(value)
        elif isinstance(value, list):
            urls.extend(url for url in value if isinstance(url, str) and url)
    return list(dict.fromkeys(urls))


def _setting_default(name: str) -> list[dict]:
    for prop in SETTINGS:
        if prop.name == name:
            return prop.to_dict()[name].get("default") or []
    return []


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
