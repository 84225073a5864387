"""Sandbox: Scheduled Log Exports (scheduled-export-jobs.txt) and their export files.

- `GET  /scheduled-exports/logs/subscriptions?app_id=`                     the app's subscriptions
- `POST|GET /scheduled-exports/logs/subscription/<id>/jobs?app_id=`       its jobs, newest first
- `GET  /scheduled-exports/logs/subscription/<id>/job/<job_id>?app_id=`   one job, fresh URLs (404 unknown)
- an unknown subscription answers the documented 400 body `{"error": {"message", "code"}}`

App `sandbox-app` knows `sandbox-sub-1` (daily installs, csv.gz, 3 files a job) and
`sandbox-sub-2` (daily commerce events, json.gz, 2 files a job), plus two the tap
must skip: `sandbox-sub-cloud` (delivered to the customer's bucket) and
`sandbox-sub-paused` (INACTIVE). Each subscription has one daily job per day for
the last `scheduled_history_days` days and today. By default today's job is
PENDING_GENERATION, yesterday's is RUNNING in sub-1; all others SUCCEEDED (a FAILED
job, which has no files, through `scheduled_statuses`). Files of jobs older than
`scheduled_retention_days` answer 403 however fresh their URL (past retention).

Options (flag `--option name=value` or `POST /_sandbox/options`):
- `scheduled_history_days` (10), `scheduled_retention_days` (7)
- `scheduled_rows_per_job`: rows a job (default 90, ±20% by day)
- `scheduled_files_per_job`: files a job, an int or `{"<subscription>": n}`
- `scheduled_statuses`: `{"<subscription>/<YYYY-MM-DD>": "RUNNING"}` job statuses by job day
- `scheduled_line_mismatch`: `["<subscription>/<YYYY-MM-DD>"]` jobs whose lines_exported is off by one
- `scheduled_formats`: `{"<subscription>": "csv" | "json" | "parquet"}` (parquet needs pyarrow)
- `scheduled_jobs_post`: false makes POST .../jobs answer 405 (the tap then uses GET)
- `scheduled_bare_jobs`: `["<subscription>/<YYYY-MM-DD>"]` SUCCEEDED jobs listed without files and
  without `lines_exported`
- `scheduled_lines_exported`: `{"<subscription>/<YYYY-MM-DD>": <any JSON value>}` the
  `lines_exported` those jobs report, as given (`-5`, `"12"`, `4.0`, ...), whatever their status
- `scheduled_subscription_shape`: "flat" lists `destination` and `report` as strings (the
  subscription type and report type) instead of objects
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import facts
from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.event_rows import value_of_kind
from tap_branch_sandbox.server import FileSource, Sandbox, json_response

BASE = "/scheduled-exports/logs"

INSTALL_FIELDS = [
    "id",
    "name",
    "timestamp",
    "timestamp_iso",
    "origin",
    "attributed",
    "deep_linked",
    "first_event_for_user",
    "last_attributed_touch_type",
    "last_attributed_touch_timestamp",
    "last_attributed_touch_data_tilde_channel",
    "last_attributed_touch_data_tilde_campaign",
    "last_attributed_touch_data_tilde_feature",
    "last_attributed_touch_data_tilde_tags",
    "last_attributed_touch_data_custom_fields",
    "days_from_last_attributed_touch_to_event",
    "user_data_os",
    "user_data_os_version",
    "user_data_platform",
    "user_data_geo_country_code",
    "user_data_screen_width",
    "user_data_limit_ad_tracking",
    "custom_data",
    "x_sandbox_segment",  # not in Branch's ontology: the tap keeps it in extra_columns
]
COMMERCE_FIELDS = [
    "id",
    "name",
    "timestamp",
    "customer_event_alias",
    "event_data_revenue",
    "event_data_currency",
    "event_data_transaction_id",
    "content_items",
    "custom_data",
    "user_data_os",
    "user_data_geo_country_code",
    "user_data_geo_lat",
    "user_data_geo_lon",
    "last_attributed_touch_data_tilde_campaign",
    "seconds_from_install_to_event",
]

SUBSCRIPTIONS = [
    {
        "id": "sandbox-sub-1",
        "report_type": "eo_install",
        "format": "csv",
        "fields": INSTALL_FIELDS,
        "destination": "branch",
        "status": "ACTIVE",
        "files": 3,
    },
    {
        "id": "sandbox-sub-2",
        "report_type": "eo_commerce_event",
        "format": "json",
        "fields": COMMERCE_FIELDS,
        "destination": "branch",
        "status": "ACTIVE",
        "files": 2,
    },
    {
        "id": "sandbox-sub-cloud",
        "report_type": "eo_open",
        "format": "csv",
        "fields": INSTALL_FIELDS[:6],
        "destination": "s3",
        "status": "ACTIVE",
        "files": 1,
    },
    {
        "id": "sandbox-sub-paused",
        "report_type": "eo_click",
        "format": "csv",
        "fields": INSTALL_FIELDS[:6],
        "destination": "branch",
        "status": "INACTIVE",
        "files": 1,
    },
]
DEFAULT_STATUSES = {("sandbox-sub-1", 1): "RUNNING"}
EXTENSIONS = {"csv": "csv.gz", "json": "json.gz", "parquet": "parquet"}


def register(sandbox: Sandbox) -> None:
    def subscriptions(request: Request) -> Response:
        app_id = _authorized_app(sandbox, request)
        if isinstance(app_id, Response):
            return app_id
        return json_response([_subscription_body(sandbox, sub, app_id) for sub in SUBSCRIPTIONS])

    def jobs(request: Request, subscription_id: str) -> Response:
        if request.method == "POST" and not sandbox.option("scheduled_jobs_post", True):
            return json_response({"error": {"message": "Method Not Allowed", "code": 405}}, 405)
        found = _subscription(sandbox, request, subscription_id)
        if isinstance(found, Response):
            return found
        sub, app_id = found
        days = _job_days(sandbox)
        return json_response(
            [_job_body(sandbox, request, sub, app_id, day) for day in reversed(days)]
        )

    def job(request: Request, subscription_id: str, job_id: str) -> Response:
        found = _subscription(sandbox, request, subscription_id)
        if isinstance(found, Response):
            return found
        sub, app_id = found
        for day in _job_days(sandbox):
            if job_id_for(sandbox, sub["id"], day) == job_id:
                return json_response(_job_body(sandbox, request, sub, app_id, day))
        return json_response(
            {"error": {"message": f"Job ID not found: {job_id}", "code": 404}}, 404
        )

    def produce(key: str) -> FileSource | None:
        try:
            _, app_id, sub_id, day_text, job_id, name = key.split("/")
            day = dt.date.fromisoformat(day_text)
            index = int(name.split("-")[1].split(".")[0])
        except (ValueError, IndexError):
            return None
        sub = _by_id(sub_id)
        if (
            sub is None
            or app_id not in sandbox.app_ids()
            or job_id != job_id_for(sandbox, sub_id, day)
        ):
            return None
        fmt = _format(sandbox, sub)
        return FileSource(produce=lambda: file_bytes(sandbox, sub, day, index, fmt))

    sandbox.add_route(f"{BASE}/subscriptions", subscriptions, methods=["GET"])
    sandbox.add_route(f"{BASE}/subscription/<subscription_id>/jobs", jobs, methods=["POST", "GET"])
    sandbox.add_route(f"{BASE}/subscription/<subscription_id>/job/<job_id>", job, methods=["GET"])
    sandbox.add_file_producer("scheduled/", produce)


# --- requests ----------------------------------------------------------------------


def _authorized_app(sandbox: Sandbox, request: Request) -> str | Response:
    app_id = request.args.get("app_id")
    if not sandbox.token_ok(request) or app_id not in sandbox.app_ids():
        return sandbox.auth_failed()
    return app_id


def _subscription(
    sandbox: Sandbox, request: Request, subscription_id: str
) -> tuple[dict, str] | Response:
    app_id = _authorized_app(sandbox, request)
    if isinstance(app_id, Response):
        return app_id
    sub = _by_id(subscription_id)
    if sub is None or app_id != sandbox.config.app_id:
        return json_response(
            {
                "error": {
                    "message": f"Invalid subscription_id: {subscription_id} not found for app {app_id}",
                    "code": 400,
                }
            },
            400,
        )
    return sub, app_id


def _by_id(subscription_id: str) -> dict | None:
    return next((sub for sub in SUBSCRIPTIONS if sub["id"] == subscription_id), None)


def _format(sandbox: Sandbox, sub: dict) -> str:
    return (sandbox.option("scheduled_formats") or {}).get(sub["id"], sub["format"])


def _subscription_body(sandbox: Sandbox, sub: dict, app_id: str) -> dict:
    if sandbox.option("scheduled_subscription_shape") == "flat":
        return {
            "subscription_id": sub["id"],
            "app_id": app_id,
            "subscription_status": sub["status"],
            "report": sub["report_type"],
            "destination": sub["destination"],
        }
    return {
        "subscription_id": sub["id"],
        "app_id": app_id,
        "subscription_status": sub["status"],
        "subscription_url": f"{BASE}/subscription/{sub['id']}",
        "report": {
            "cadence": "daily",
            "response_format": _format(sandbox, sub),
            "response_format_compression": "gz",
            "report_type": sub["report_type"],
            "fields": sub["fields"],
            "filter": None,
        },
        "destination": {"subscription_type": sub["destination"]},
    }


# --- jobs ----------------------------------------------------------------------------


def _job_days(sandbox: Sandbox) -> list[dt.date]:
    today = sandbox.today()
    history = int(sandbox.option("scheduled_history_days", 10))
    return [today - dt.timedelta(days=n) for n in range(history, -1, -1)]


def job_id_for(sandbox: Sandbox, subscription_id: str, day: dt.date) -> str:
    digest = hashlib.sha256(f"{sandbox.config.seed}:{subscription_id}:{day}".encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def job_status(sandbox: Sandbox, subscription_id: str, day: dt.date) -> str:
    age = (sandbox.today() - day).days
    override = (sandbox.option("scheduled_statuses") or {}).get(
        f"{subscription_id}/{day.isoformat()}"
    )
    if override:
        return str(override)
    if age <= 0:
        return "PENDING_GENERATION"
    return DEFAULT_STATUSES.get((subscription_id, age), "SUCCEEDED")


def rows_for_job(sandbox: Sandbox, subscription_id: str, day: dt.date) -> int:
    base = int(sandbox.option("scheduled_rows_per_job", 90))
    factor = syn.rng_for(sandbox.config.seed, subscription_id, day, "volume").uniform(0.8, 1.2)
    return max(0, round(base * factor))


def files_for_job(sandbox: Sandbox, sub: dict, rows: int) -> int:
    option = sandbox.option("scheduled_files_per_job")
    wanted = (
        option.get(sub["id"], sub["files"]) if isinstance(option, dict) else option or sub["files"]
    )
    return max(1, min(int(wanted), rows)) if rows else 1


def _job_body(sandbox: Sandbox, request: Request, sub: dict, app_id: str, day: dt.date) -> dict:
    body = _documented_job_body(sandbox, request, sub, app_id, day)
    forced = sandbox.option("scheduled_lines_exported") or {}
    job_key = f"{sub['id']}/{day.isoformat()}"
    if job_key in forced:
        body["lines_exported"] = forced[job_key]
    return body


def _documented_job_body(
    sandbox: Sandbox, request: Request, sub: dict, app_id: str, day: dt.date
) -> dict:
    status = job_status(sandbox, sub["id"], day)
    job_id = job_id_for(sandbox, sub["id"], day)
    body = {
        "job_id": job_id,
        "status": status,
        "start_date": f"{day.isoformat()}T00:00:00.000-00:00",
        "end_date": f"{day.isoformat()}T23:59:59.000-00:00",
        "export_url": [],
        "lines_exported": None,
    }
    if status == "FAILED":
        body["lines_exported"] = 0
    if status != "SUCCEEDED":
        return body
    if f"{sub['id']}/{day.isoformat()}" in (sandbox.option("scheduled_bare_jobs") or []):
        del body["lines_exported"]
        return body
    rows = rows_for_job(sandbox, sub["id"], day)
    files = files_for_job(sandbox, sub, rows)
    ext = EXTENSIONS[_format(sandbox, sub)]
    past_retention = (sandbox.today() - day).days > int(
        sandbox.option("scheduled_retention_days", 7)
    )
    ttl = -1 if past_retention else None  # S3 answers 403 however often the URL is renewed
    if sub["destination"] == "branch":
        body["export_url"] = [
            sandbox.signed_url(
                request,
                f"scheduled/{app_id}/{sub['id']}/{day.isoformat()}/{job_id}/part-{index:04d}.{ext}",
                ttl=ttl,
            )
            for index in range(files)
        ]
    mismatch = f"{sub['id']}/{day.isoformat()}" in (sandbox.option("scheduled_line_mismatch") or [])
    body["lines_exported"] = rows + (1 if mismatch else 0)
    return body


# --- files ---------------------------------------------------------------------------


def file_rows(
    sandbox: Sandbox, sub: dict, day: dt.date, index: int
) -> t.Iterator[dict[str, t.Any]]:
    """The rows of one file as typed Python values (JSON-ready)."""
    rows = rows_for_job(sandbox, sub["id"], day)
    files = files_for_job(sandbox, sub, rows)
    per_file = math.ceil(rows / files) if rows else 0
    first, last = index * per_file, min(rows, (index + 1) * per_file)
    seed = sandbox.config.seed
    for number in range(first, last):
        rng = syn.rng_for(seed, sub["id"], day, number)
        yield {field: _value(rng, seed, sub, day, number, field) for field in sub["fields"]}


def _value(rng, seed: int, sub: dict, day: dt.date, number: int, field: str) -> t.Any:
    moment = syn.moment_in_day(rng, day)
    if field == "id":
        return syn.stable_id(seed, sub["id"], day, number)
    if field == "name":
        return (
            "INSTALL"
            if sub["report_type"] == "eo_install"
            else rng.choice(["PURCHASE", "ADD_TO_CART"])
        )
    if field == "x_sandbox_segment":
        return rng.choice(["alpha", "beta", ""])
    # A field Branch does not document (`x_sandbox_segment` is caught above) would be text.
    return value_of_kind(rng, seed, field, facts.FIELD_KINDS.get(field, facts.TEXT), moment)


def _cell(value: t.Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return syn.jdump(value)
    return "" if value is None else str(value)


def file_bytes(
    sandbox: Sandbox, sub: dict, day: dt.date, index: int, fmt: str
) -> t.Iterator[bytes]:
    rows = file_rows(sandbox, sub, day, index)
    if fmt == "json":
        return syn.gzip_json_lines(rows)
    if fmt == "parquet":
        return iter([_parquet(sub["fields"], rows)])
    return syn.gzip_csv(
        sub["fields"], ([_cell(row[field]) for field in sub["fields"]] for row in rows)
    )


def _parquet(fields: list[str], rows: t.Iterable[dict]) -> bytes:
    """A parquet file (needs pyarrow): objects and arrays as JSON text, like Branch's flat columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, list] = {field: [] for field in fields}
    for row in rows:
        for field in fields:
            value = row[field]
            columns[field].append(json.dumps(value) if isinstance(value, (dict, list)) else value)
    out = io.BytesIO()
    pq.write_table(pa.table(columns), out, compression="snappy")
    return out.getvalue()
