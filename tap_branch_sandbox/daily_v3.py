"""Sandbox: Daily Exports v3, `POST /v3/export` -> csv.gz URLs per `eo_*` topic.

The answer lists all 15 topics (`facts.V3_TOPICS`), an empty list for a topic without
data that day. Each topic's files have its own header (`facts.topic_columns`): `eo_click`
files have no `existing_user`, only commerce events have `content_items`.

Body `{branch_key, branch_secret, export_date}`. Only the last 7 days (before the
sandbox's today) are served; older or later dates answer 400. A day is
published once it is at least `v3_publish_lag_days` + 1 days old (default: yesterday
is published); until then every topic's list is empty, as Branch's are before ~07:00 UTC.

Options:
- `v3_rows`: rows per day by topic (default `DEFAULT_ROWS`: every topic; 0 for none)
- `v3_rows_per_file`: rows per csv.gz file (default 50) — Branch's are ~200k
- `v3_publish_lag_days`: days before today still unpublished (default 0)
- `v3_empty_days`: ISO dates published with no data at all
- `v3_extra_topic`: a topic name Branch added that the tap does not know
- `v3_missing_topics`: topics left out of the answer (not what Branch documents)
- `v3_repeated_files`, `v3_repeated_key`: as `daily_repeated_files` and `daily_repeated_key`
  of `daily_export` (a topic's first file listed twice; a topic's key again with `[]`)
"""

from __future__ import annotations

import datetime as dt
import math
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import facts
from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.daily_export import repeated_answer
from tap_branch_sandbox.event_rows import csv_cell, event_values
from tap_branch_sandbox.server import FileSource, Sandbox, json_response

TOPICS = facts.V3_TOPICS
#: Rows a day by topic: every topic has some, the proportions of a small app's day (touches
#: outnumber opens, opens installs), few enough to keep tests and the demo quick.
DEFAULT_ROWS = {
    "eo_impression": 40,
    "eo_click": 120,
    "eo_web_to_app_auto_redirect": 6,
    "eo_branch_cta_view": 8,
    "eo_sms_sent": 3,
    "eo_open": 80,
    "eo_install": 30,
    "eo_reinstall": 5,
    "eo_web_session_start": 20,
    "eo_pageview": 25,
    "eo_commerce_event": 10,
    "eo_custom_event": 12,
    "eo_content_event": 10,
    "eo_dismissal": 4,
    "eo_user_lifecycle_event": 8,
}
AVAILABLE_DAYS = 7


def register(sandbox: Sandbox) -> None:
    def export(request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        app = sandbox.app_for_key(body.get("branch_key"), body.get("branch_secret"))
        if app is None:
            return sandbox.auth_failed()
        try:
            day = dt.date.fromisoformat(str(body.get("export_date") or ""))
        except ValueError:
            return _bad_request(
                f"Invalid export_date: {body.get('export_date')!r}; expected YYYY-MM-DD"
            )
        today = sandbox.today()
        if not today - dt.timedelta(days=AVAILABLE_DAYS) <= day < today:
            return _bad_request("export_date must be within the last 7 days")
        published = day < today - dt.timedelta(days=int(sandbox.option("v3_publish_lag_days", 0)))
        answer: dict[str, list[str]] = {}
        missing = sandbox.option("v3_missing_topics") or []
        for topic in topics(sandbox):
            if topic in missing:
                continue
            count = rows_for_day(sandbox, app.app_id, day, topic) if published else 0
            answer[topic] = [
                sandbox.signed_url(
                    request,
                    f"v3/{app.app_id}/{day}/{topic}/{index}-{_file_id(sandbox, app.app_id, day, topic, index)}.csv.gz",
                )
                for index in range(math.ceil(count / rows_per_file(sandbox)))
            ]
        return repeated_answer(
            request,
            sandbox,
            answer,
            files=sandbox.option("v3_repeated_files") or [],
            key=sandbox.option("v3_repeated_key"),
        )

    def produce(key: str) -> FileSource | None:
        try:
            _, app_id, day_text, topic, name = key.split("/")
            day = dt.date.fromisoformat(day_text)
            index = int(name.split("-")[0])
        except ValueError:
            return None
        if topic not in topics(sandbox) or app_id not in sandbox.app_ids():
            return None
        return FileSource(produce=lambda: file_bytes(sandbox, app_id, day, topic, index))

    sandbox.add_route("/v3/export", export, methods=["POST"])
    sandbox.add_file_producer("v3/", produce)


def topics(sandbox: Sandbox) -> list[str]:
    extra = sandbox.option("v3_extra_topic")
    return [*TOPICS, extra] if extra else TOPICS


def rows_per_file(sandbox: Sandbox) -> int:
    return int(sandbox.option("v3_rows_per_file", 50))


def rows_for_day(sandbox: Sandbox, app_id: str, day: dt.date, topic: str) -> int:
    if day.isoformat() in (sandbox.option("v3_empty_days") or []):
        return 0
    base = int({**DEFAULT_ROWS, **(sandbox.option("v3_rows") or {})}.get(topic, 0))
    if base <= 0:
        return 0
    factor = syn.rng_for(sandbox.config.seed, app_id, day, topic, "v3-volume").uniform(0.8, 1.2)
    return max(1, round(base * factor))


def _file_id(sandbox: Sandbox, app_id: str, day: dt.date, topic: str, index: int) -> str:
    return syn.stable_id(sandbox.config.seed, app_id, day, topic, index, digits=12)


def file_bytes(
    sandbox: Sandbox, app_id: str, day: dt.date, topic: str, index: int
) -> t.Iterator[bytes]:
    per_file = rows_per_file(sandbox)
    total = rows_for_day(sandbox, app_id, day, topic)
    seed = sandbox.config.seed
    header = facts.topic_columns(topic)

    def rows() -> t.Iterator[list[str]]:
        for number in range(index * per_file, min(total, (index + 1) * per_file)):
            rng = syn.rng_for(seed, app_id, day, topic, number, "v3-row")
            values = event_values(
                rng, seed, app_id, topic, syn.moment_in_day(rng, day), f"{day}:{number}"
            )
            yield [csv_cell(values.get(column)) for column in header]

    return syn.gzip_csv(header, rows())


def _bad_request(message: str) -> Response:
    return json_response({"error": {"message": message, "code": 400}}, 400)
