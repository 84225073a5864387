"""Sandbox: Custom Exports (`/v2/logs`) and data readiness (`/v2/data/ready`).

- `POST /v2/logs?app_id=...` (Access-Token) creates an export job: `{report_type, start_date,
  end_date, fields, limit, timezone, response_format, response_format_compression,
  allow_multiple_files, filter}` -> `{"handle": ..., "export_job_status_url": ...}` (option
  `custom_handle_key`: "handle", "request_handle" or "both"). The window must start within
  the last 120 days and span at most 60 days; no more than 100 days of data an hour per app
  (429). A requested field Branch does not export for the report type (`facts.field_available`,
  or listed in `custom_unavailable_fields`) answers 400 "... is not available for exports",
  naming ONE field per answer (the harsher reading of the deny lists real clients keep).
  Job creation: 10/min and 25/h; status checks 50/min and 1000/h.
- `GET /v2/logs/<handle>?app_id=...` -> `{"status": "pending"|"running"|"complete"|"fail", ...}`;
  complete jobs carry `response_url`: one URL (a string) or several (a list).
- `POST /v2/data/ready?app_id=...` `{date: "YYYY-MM-DD hh:00:00", warehouse_meta_type, topic, app_id}`
  -> `{"data_ready": bool, "date": ...}`, for the documented topics only (`facts.READINESS_TOPICS`);
  any other topic answers 400.

Data lands late: the events of an hour exist only once the hour is `custom_ready_lag_hours`
(default 3) behind the sandbox's now, and a job holds what had landed when it was created.

Options: `custom_now` (ISO datetime; default the sandbox's today at the real time of day),
`custom_ready_lag_hours`, `custom_rows_per_hour` ({report_type: n}; default DEFAULT_ROWS_PER_HOUR,
others 1), `custom_rows_per_file` (default 200), `custom_job_seconds` (sandbox seconds a job
takes, default 2), `custom_fail_report_types`, `custom_unavailable_fields`, `custom_handle_key`,
`custom_response_url_key` (the key of a complete job's file URLs, default `response_url`),
`custom_files_by_query` (true: a job's files share one URL path and differ only in the query,
`.../export.json.gz?part=N&X-Amz-...`, as a file host may name them), `custom_lines_exported_bias`
(added to the `lines_exported` a complete job reports: a count that disagrees with its files),
`custom_file_order` (`reversed`: a complete job lists its files last first; nothing documents
that each answer about a job keeps one order).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import threading
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import facts
from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.event_rows import event_values, json_object
from tap_branch_sandbox.server import FileSource, Sandbox, json_response

REPORT_TYPES = facts.CUSTOM_REPORT_TYPES
READINESS_TOPICS = facts.READINESS_TOPICS
DEFAULT_ROWS_PER_HOUR = {"eo_click": 3, "eo_open": 2, "eo_install": 1}
MAX_WINDOW_DAYS = 60
LOOKBACK_DAYS = 120
CREATE_WINDOWS = [(10, 60), (25, 3600)]
STATUS_WINDOWS = [(50, 60), (1000, 3600)]
DAYS_PER_HOUR = 100

_UTC = dt.timezone.utc
_HOUR = dt.timedelta(hours=1)


def register(sandbox: Sandbox) -> None:
    lock = threading.Lock()
    jobs: dict[str, dict] = sandbox.state.setdefault("custom_jobs", {})

    def create(request: Request) -> Response:
        if not sandbox.token_ok(request):
            return sandbox.auth_failed()
        app_id = request.args.get("app_id")
        if app_id not in sandbox.app_ids():
            return _bad_request(f"Unknown app_id {app_id!r}", 403)
        limited = sandbox.rate_limited(
            "custom_exports_create", sandbox.config.organization_id, CREATE_WINDOWS
        )
        if limited is not None:
            return limited
        body = request.get_json(silent=True) or {}
        report_type = body.get("report_type")
        if report_type not in REPORT_TYPES:
            return _bad_request(f"Invalid report_type: {report_type!r}")
        try:
            start = _parse(body.get("start_date"))
            end = _parse(body.get("end_date"))
        except ValueError:
            return _bad_request(
                "start_date and end_date must be ISO-8601 datetimes, e.g. 2024-01-05T00:00:00Z"
            )
        now = sandbox_now(sandbox)
        if end < start:
            return _bad_request("end_date must not be before start_date")
        if end - start > dt.timedelta(days=MAX_WINDOW_DAYS):
            return _bad_request("The maximum number of days that can be queried at once is 60")
        if start < now - dt.timedelta(days=LOOKBACK_DAYS):
            return _bad_request("start_date must be within the last 120 days")
        fields = body.get("fields")
        if not isinstance(fields, list) or not fields:
            return _bad_request("fields must be a non-empty list")
        refused = set(sandbox.option("custom_unavailable_fields") or [])
        unavailable = [
            f for f in fields if f in refused or not facts.field_available(report_type, f)
        ]
        if unavailable:
            sandbox.state["custom_fields_refused"] = (
                sandbox.state.get("custom_fields_refused", 0) + 1
            )
            return _bad_request(
                f"Requested field {unavailable[0]} is not available for exports for {report_type}"
            )
        days = max(1, math.ceil((end - start).total_seconds() / 86400))
        with lock:
            moment = sandbox.scaled_seconds()
            used = sandbox.state.setdefault("custom_days", {}).setdefault(app_id, [])
            used[:] = [(at, n) for at, n in used if at > moment - 3600]
            if sum(n for _, n in used) + days > DAYS_PER_HOUR:
                wait = (used[0][0] + 3600 - moment) / sandbox.config.time_scale
                return sandbox.too_many_requests(sandbox.config.organization_id, wait)
            used.append((moment, days))
            handle = syn.stable_id(
                sandbox.config.seed, app_id, report_type, start, end, len(jobs), digits=20
            )
            jobs[handle] = {
                "app_id": app_id,
                "report_type": report_type,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "fields": list(fields),
                "landed_until": ready_until(sandbox).isoformat(),
                "created": moment,
                "text_objects": len(jobs) % 2 == 1,  # Branch writes objects as JSON or as JSON text
            }
        sandbox.state.setdefault("custom_jobs_created", []).append(
            {
                "handle": handle,
                "report_type": report_type,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "fields": list(fields),
            }
        )
        key = sandbox.option("custom_handle_key", "handle")
        answer = {"request_handle": handle} if key == "request_handle" else {"handle": handle}
        if key == "both":
            answer["request_handle"] = handle
        answer["export_job_status_url"] = (
            f"{request.host_url}v2/logs/{handle}?app_id={app_id}"  # as Branch's sample answer
        )
        return json_response(answer)

    def status(request: Request, handle: str) -> Response:
        if not sandbox.token_ok(request):
            return sandbox.auth_failed()
        limited = sandbox.rate_limited(
            "custom_exports_status", sandbox.config.organization_id, STATUS_WINDOWS
        )
        if limited is not None:
            return limited
        job = jobs.get(handle)
        if job is None or job["app_id"] != request.args.get("app_id"):
            return json_response(
                {"error": {"message": f"Job ID {handle} not found", "code": 404}}, 404
            )
        if job["report_type"] in (sandbox.option("custom_fail_report_types") or []):
            return json_response(
                {"status": "fail", "code": 200, "message": "Export failed (sandbox)"}
            )
        elapsed = sandbox.scaled_seconds() - job["created"]
        took = float(sandbox.option("custom_job_seconds", 2))
        if elapsed < took:
            return json_response(
                {"status": "pending" if elapsed < took / 2 else "running", "code": 200}
            )
        total = len(job_rows_index(sandbox, job))
        per_file = int(sandbox.option("custom_rows_per_file", 200))
        urls = [
            _file_url(sandbox, request, handle, index)
            for index in range(max(1, math.ceil(total / per_file)))
        ]
        if sandbox.option("custom_file_order") == "reversed":
            urls.reverse()
        url_key = str(sandbox.option("custom_response_url_key", "response_url"))
        return json_response(
            {
                "status": "complete",
                "code": 200,
                "lines_exported": total + int(sandbox.option("custom_lines_exported_bias", 0)),
                url_key: urls[0] if len(urls) == 1 else urls,
            }
        )

    def file_by_query(request: Request, handle: str) -> Response:
        """`custom_files_by_query`: the file named by `part`, signed as its own key."""
        part = request.args.get("part", "")
        if not part.isdigit():
            return json_response({"error": {"message": "part is required", "code": 400}}, 400)
        return sandbox._serve_file(request, f"custom/{handle}/{int(part)}.json.gz")

    def ready(request: Request) -> Response:
        if not sandbox.token_ok(request):
            return sandbox.auth_failed()
        body = request.get_json(silent=True) or {}
        if body.get("topic") not in READINESS_TOPICS:
            return _bad_request(
                "Topic is invalid or data retention for requested data has expired."
            )
        if body.get("warehouse_meta_type") not in ("EVENT", "AGGREGATE"):
            return _bad_request("warehouse_meta_type must be EVENT or AGGREGATE")
        try:
            hour = dt.datetime.strptime(str(body.get("date")), "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=_UTC
            )
        except ValueError:
            return _bad_request("date must be in the format YYYY-MM-DD hh:mm:ss")
        sandbox.state["custom_ready_checks"] = sandbox.state.get("custom_ready_checks", 0) + 1
        return json_response(
            {"data_ready": hour + _HOUR <= ready_until(sandbox), "date": body.get("date")}
        )

    def produce(key: str) -> FileSource | None:
        try:
            _, handle, name = key.split("/")
            index = int(name.split(".")[0])
        except ValueError:
            return None
        job = jobs.get(handle)
        if job is None:
            return None
        return FileSource(produce=lambda: file_bytes(sandbox, job, index))

    sandbox.add_route("/v2/logs", create, methods=["POST"])
    sandbox.add_route("/v2/logs/<handle>", status, methods=["GET"])
    sandbox.add_route("/v2/data/ready", ready, methods=["POST"])
    sandbox.add_route("/files-by-query/custom/<handle>/export.json.gz", file_by_query)
    sandbox.add_file_producer("custom/", produce)


def _file_url(sandbox: Sandbox, request: Request, handle: str, index: int) -> str:
    """A signed URL of file `index` of a job: its own path, or (`custom_files_by_query`) one
    path for every file of the job and the file in the query."""
    url = sandbox.signed_url(request, f"custom/{handle}/{index}.json.gz")
    if not sandbox.option("custom_files_by_query", False):
        return url
    path, query = url.split("?", 1)
    shared = path.replace(
        f"/files/custom/{handle}/{index}.json.gz", f"/files-by-query/custom/{handle}/export.json.gz"
    )
    return f"{shared}?part={index}&{query}"


def sandbox_now(sandbox: Sandbox) -> dt.datetime:
    if sandbox.option("custom_now"):
        return _parse(sandbox.option("custom_now"))
    clock = dt.datetime.now(_UTC)
    return dt.datetime.combine(sandbox.today(), clock.time(), tzinfo=_UTC)


def ready_until(sandbox: Sandbox) -> dt.datetime:
    """Events before this moment have landed: the current hour minus the lag."""
    now = sandbox_now(sandbox).replace(minute=0, second=0, microsecond=0)
    return now - int(sandbox.option("custom_ready_lag_hours", 3)) * _HOUR


def rows_per_hour(sandbox: Sandbox, report_type: str) -> int:
    return int(
        {**DEFAULT_ROWS_PER_HOUR, **(sandbox.option("custom_rows_per_hour") or {})}.get(
            report_type, 1
        )
    )


def job_rows_index(sandbox: Sandbox, job: dict) -> list[tuple[dt.datetime, int]]:
    """(hour, number) of every event in the job's window that had landed when it was created."""
    start, end = (
        _parse(job["start"]),
        _parse(job["end"]) + dt.timedelta(seconds=1),
    )  # end is inclusive
    landed = _parse(job["landed_until"])
    per_hour = rows_per_hour(sandbox, job["report_type"])
    hour = start.replace(minute=0, second=0, microsecond=0)
    found = []
    while hour < min(end, landed):
        for number in range(per_hour):
            moment = _moment(sandbox, job, hour, number)
            if start <= moment < end and moment < landed:
                found.append((hour, number))
        hour += _HOUR
    return found


def _moment(sandbox: Sandbox, job: dict, hour: dt.datetime, number: int) -> dt.datetime:
    rng = syn.rng_for(
        sandbox.config.seed, job["app_id"], job["report_type"], hour.isoformat(), number, "when"
    )
    return hour + dt.timedelta(milliseconds=rng.randrange(3_600_000))


def file_bytes(sandbox: Sandbox, job: dict, index: int) -> t.Iterator[bytes]:
    per_file = int(sandbox.option("custom_rows_per_file", 200))
    rows = job_rows_index(sandbox, job)[index * per_file : (index + 1) * per_file]
    seed = sandbox.config.seed

    def objects() -> t.Iterator[dict]:
        for hour, number in rows:
            moment = _moment(sandbox, job, hour, number)
            rng = syn.rng_for(
                seed, job["app_id"], job["report_type"], hour.isoformat(), number, "row"
            )
            values = event_values(
                rng, seed, job["app_id"], job["report_type"], moment, f"{hour.isoformat()}:{number}"
            )
            yield json_object(values, job["fields"], text_objects=job["text_objects"])

    return syn.gzip_json_lines(objects())


def _parse(value: t.Any) -> dt.datetime:
    text = str(value or "").strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    return parsed.replace(tzinfo=_UTC) if parsed.tzinfo is None else parsed.astimezone(_UTC)


def _bad_request(message: str, status: int = 400) -> Response:
    return Response(
        json.dumps({"error": {"message": message, "code": status}}),
        status=status,
        content_type="application/json",
    )
