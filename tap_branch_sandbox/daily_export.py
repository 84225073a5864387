"""Sandbox: the legacy daily export (daily-export-api-v1.md) and its csv.gz files.

- `GET /v1/export/<branch_key>?branch_secret=...&export_date=YYYY-MM-DD` (the document's example)
- `POST /v2/export` with a JSON body (the document's endpoint line)

Options (flag `--option name=value` or `POST /_sandbox/options`):
- `daily_rows`: rows per day by kind, e.g. `{"links": 40, "link_clicks": 120, "events": 200}`
- `daily_rows_per_file`: rows per csv.gz file before a kind's day is split (default 100)
- `daily_volume_jitter`: how far a day's volume varies around `daily_rows` (default 0.2 = ±20%)
- `daily_get_form`: false makes the GET form answer 404 (to exercise the POST fallback)
- `daily_bad_cells`: rows per file whose timestamp cell is garbage
- `daily_extra_column`: add an undocumented column; `daily_drop_column`: omit a documented one
- `daily_file_order`: `reversed` lists each day's files last first (nothing documents an order,
  and a fresh answer need not keep the last one's)
- `daily_repeated_files`: kinds whose first file is listed a second time, signed again, at the
  end of its list (what a real answer was seen to do)
- `daily_repeated_key`: a kind whose list's key the answer repeats at its end with `[]` (JSON
  allows it; most readers keep the last value, and would see no files)

Cells take the forms Branch's legacy documents and its migration guide show: timestamps
without a zone (`2018-07-11T09:43:01`, UTC), ids as long integers, `data`/`metadata`/
`*_query_params` as JSON text, tags as Python list literals (`['iOS']`, `[]`) and
`sms_from_desktop` as `True`/`False`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import typing as t

from werkzeug.wrappers import Request, Response

from tap_branch_sandbox import synthetic as syn
from tap_branch_sandbox.server import FileSource, Sandbox, json_response

# The columns, in the order daily-export-api-v1.md lists them.
LINK_COLUMNS = [
    "creation_timestamp",
    "link_id",
    "branch_identity_id",
    "channel",
    "feature",
    "campaign",
    "stage",
    "tags",
    "data",
    "creation_source",
    "alias",
    "domain",
    "url",
]
LINK_CLICK_COLUMNS = [
    "click_timestamp",
    "branch_link_click_id",
    "branch_browser_fingerprint_id",
    "os",
    "os_version",
    "model",
    "browser",
    "user_agent",
    "ip_address",
    "stage",
    "sms_from_desktop",
    "phone_number",
    "redirect_method",
    "link_creation_timestamp",
    "link_channel",
    "link_feature",
    "link_campaign",
    "link_stage",
    "link_tags",
    "link_data",
    "link_creation_source",
    "link_url",
    "link_branch_identity_id",
    "link_id",
]
_REFERRING = [
    "click_timestamp",
    "click_query_params",
    "branch_identity_id",
    "developer_identity",
    "hardware_id",
    "branch_link_id",
    "link_creation_timestamp",
    "link_channel",
    "link_feature",
    "link_campaign",
    "link_stage",
    "link_tags",
    "link_data",
    "link_creation_source",
    "link_url",
]
EVENT_COLUMNS = [
    *[
        "id",
        "name",
        "metadata",
        "timestamp",
        "branch_identity_id",
        "developer_identity",
        "identity_creation_timestamp",
        "branch_session_id",
        "app_version",
        "ip_address",
        "session_start_timestamp",
        "branch_device_fingerprint_id",
        "device_first_seen_timestamp",
        "device_os",
        "device_os_version",
        "device_metadata",
        "hardware_id",
        "google_advertising_id",
        "branch_browser_fingerprint_id",
        "browser_first_seen_timestamp",
        "browser_os",
        "browser_os_version",
        "user_agent",
    ],
    *(f"first_referring_{c}" for c in _REFERRING),
    *(f"session_referring_{c}" for c in _REFERRING),
]

KINDS = {"links": LINK_COLUMNS, "link_clicks": LINK_CLICK_COLUMNS, "events": EVENT_COLUMNS}
RESPONSE_KEYS = {
    "links": "links_export_url",
    "link_clicks": "clicks_export_url",
    "events": "events_export_url",
}
DEFAULT_ROWS = {"links": 40, "link_clicks": 120, "events": 200}
#: Campaign names as typed into the dashboard: one spans two lines (a raw newline
#: inside a quoted CSV cell, which the JSON cells never have: JSON escapes it).
CAMPAIGNS = [*syn.CAMPAIGNS, "Holiday\nsecond line"]


def register(sandbox: Sandbox) -> None:
    def export_get(request: Request, branch_key: str) -> Response:
        if not sandbox.option("daily_get_form", True):
            return json_response({"error": {"message": "Not found", "code": 404}}, 404)
        return export(
            request, branch_key, request.args.get("branch_secret"), request.args.get("export_date")
        )

    def export_post(request: Request) -> Response:
        body = request.get_json(silent=True) or {}
        return export(
            request, body.get("branch_key"), body.get("branch_secret"), body.get("export_date")
        )

    def export(
        request: Request, key: str | None, secret: str | None, date_text: str | None
    ) -> Response:
        app = sandbox.app_for_key(key, secret)
        if app is None:
            return sandbox.auth_failed()
        try:
            day = dt.date.fromisoformat(date_text or "")
        except ValueError:
            return json_response(
                {"error": {"message": f"Invalid export_date: {date_text!r}", "code": 400}}, 400
            )
        urls = {}
        for kind, response_key in RESPONSE_KEYS.items():
            count = rows_for_day(sandbox, app.app_id, day, kind)
            files = math.ceil(count / rows_per_file(sandbox)) if count else 0
            urls[response_key] = [
                sandbox.signed_url(
                    request,
                    f"daily/{app.app_id}/{day.isoformat()}/{kind}/{index}-{syn.stable_id(app.app_id, day, kind, index, digits=12)}.csv.gz",
                )
                for index in range(files)
            ]
            if sandbox.option("daily_file_order") == "reversed":
                urls[response_key].reverse()
        return repeated_answer(
            request,
            sandbox,
            urls,
            files=[RESPONSE_KEYS[kind] for kind in sandbox.option("daily_repeated_files") or []],
            key=RESPONSE_KEYS.get(sandbox.option("daily_repeated_key") or ""),
        )

    def produce(key: str) -> FileSource | None:
        try:
            _, app_id, day_text, kind, name = key.split("/")
            day = dt.date.fromisoformat(day_text)
            index = int(name.split("-")[0])
        except ValueError:
            return None
        if kind not in KINDS or app_id not in sandbox.app_ids():
            return None
        return FileSource(
            produce=lambda: file_bytes(sandbox, app_id, day, kind, index),
            ready=day < sandbox.today(),
        )

    sandbox.add_route("/v1/export/<branch_key>", export_get, methods=["GET"])
    sandbox.add_route("/v2/export", export_post, methods=["POST"])
    sandbox.add_file_producer("daily/", produce)


def repeated_answer(
    request: Request,
    sandbox: Sandbox,
    lists: dict[str, list[str]],
    *,
    files: t.Sequence[str],
    key: str | None,
) -> Response:
    """A day's answer of file `lists`, where those named in `files` list their first file again
    (signed anew), and `key`, when given, comes a second time at the end with an empty list."""
    for name in files:
        if lists.get(name):
            path = lists[name][0].split("/files/", 1)[1].split("?", 1)[0]
            lists[name].append(sandbox.signed_url(request, path))
    text = json.dumps(lists)
    if key is not None:
        text = text[:-1] + f', "{key}": []}}'
    return Response(text, content_type="application/json")


def legacy_time(moment: dt.datetime) -> str:
    """The legacy export's timestamp: `2018-07-11T09:43:01`, UTC without a zone."""
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def legacy_tags(tags: list[str]) -> str:
    """Tags as the legacy export writes them: a Python list literal, `['iOS']`."""
    return repr(list(tags))


def rows_per_file(sandbox: Sandbox) -> int:
    return int(sandbox.option("daily_rows_per_file", 100))


def rows_for_day(sandbox: Sandbox, app_id: str, day: dt.date, kind: str) -> int:
    """Deterministic volume: the configured rows a day, give or take `daily_volume_jitter` (20%)."""
    base = int({**DEFAULT_ROWS, **(sandbox.option("daily_rows") or {})}.get(kind, 0))
    if base <= 0:
        return 0
    jitter = float(sandbox.option("daily_volume_jitter", 0.2))
    factor = syn.rng_for(sandbox.config.seed, app_id, day, kind, "volume").uniform(
        1 - jitter, 1 + jitter
    )
    return max(1, round(base * factor))


def header_for(sandbox: Sandbox, kind: str) -> list[str]:
    header = [c for c in KINDS[kind] if c != sandbox.option("daily_drop_column")]
    if sandbox.option("daily_extra_column"):
        header.append(str(sandbox.option("daily_extra_column")))
    return header


def file_bytes(
    sandbox: Sandbox, app_id: str, day: dt.date, kind: str, index: int
) -> t.Iterator[bytes]:
    per_file = rows_per_file(sandbox)
    total = rows_for_day(sandbox, app_id, day, kind)
    first, last = index * per_file, min(total, (index + 1) * per_file)
    header = header_for(sandbox, kind)
    make = {"links": link_row, "link_clicks": click_row, "events": event_row}[kind]
    bad_cells = int(sandbox.option("daily_bad_cells", 0))

    def rows() -> t.Iterator[list[str]]:
        rng = syn.rng_for(sandbox.config.seed, app_id, day, kind, index)
        for position, number in enumerate(range(first, last)):
            values = make(rng, sandbox.config.seed, app_id, day, number)
            if position < bad_cells:
                values[_timestamp_column(kind)] = "not-a-timestamp"
            if sandbox.option("daily_extra_column"):
                values[str(sandbox.option("daily_extra_column"))] = f"extra-{number}"
            yield [values.get(column, "") for column in header]

    return syn.gzip_csv(header, rows())


def _timestamp_column(kind: str) -> str:
    return {"links": "creation_timestamp", "link_clicks": "click_timestamp", "events": "timestamp"}[
        kind
    ]


def _link_fields(rng, seed, app_id, day, number) -> dict[str, str]:
    link_number = rng.randrange(10_000)
    created = syn.day_start(day) - dt.timedelta(minutes=rng.randrange(60 * 24 * 30))
    return {
        "creation_timestamp": legacy_time(created),
        "link_id": syn.stable_id(
            seed, app_id, "link", link_number if number < 0 else f"{day}:{number}"
        ),
        "branch_identity_id": syn.stable_id(seed, app_id, "identity", rng.randrange(5000))
        if rng.random() < 0.7
        else "",
        "channel": rng.choice(syn.CHANNELS),
        "feature": rng.choice(syn.FEATURES),
        "campaign": rng.choice(CAMPAIGNS),
        "stage": rng.choice(syn.STAGES),
        "tags": legacy_tags(rng.sample(["iOS", "q3", "vip", "it's", "ünïcode"], rng.randrange(3))),
        "data": syn.jdump(
            {
                "$og_title": rng.choice(syn.TITLES),
                "$canonical_identifier": f"item/{rng.randrange(999)}",
                "~campaign": rng.choice(syn.CAMPAIGNS),
                "price": round(rng.uniform(1, 300), 2),
            }
        ),
        "creation_source": rng.choice(["API", "SDK", "Dashboard", "Quick Link"]),
        "alias": rng.choice(["", "", f"promo-{rng.randrange(999)}"]),
        "domain": rng.choice(syn.DOMAINS),
        "url": f"https://{rng.choice(syn.DOMAINS)}/{syn.stable_id(seed, app_id, 'url', number, digits=11)}",
    }


def link_row(rng, seed, app_id, day, number) -> dict[str, str]:
    return _link_fields(rng, seed, app_id, day, number)


def click_row(rng, seed, app_id, day, number) -> dict[str, str]:
    link = _link_fields(rng, seed, app_id, day, -1)
    os_name, versions = rng.choice(syn.OSES)
    return {
        "click_timestamp": legacy_time(syn.moment_in_day(rng, day)),
        "branch_link_click_id": syn.stable_id(seed, app_id, "click", day, number),
        "branch_browser_fingerprint_id": syn.stable_id(
            seed, app_id, "browser", rng.randrange(9000)
        ),
        "os": os_name,
        "os_version": rng.choice(versions),
        "model": rng.choice(syn.MODELS),
        "browser": rng.choice(syn.BROWSERS),
        "user_agent": rng.choice(syn.USER_AGENTS),
        "ip_address": f"{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "stage": rng.choice(syn.STAGES),
        "sms_from_desktop": rng.choice(["True", "False", "False"]),
        "phone_number": "",
        "redirect_method": rng.choice(["app_store", "uri_scheme", "universal_link", "web"]),
        **{
            f"link_{k}": link[k]
            for k in ("channel", "feature", "campaign", "stage", "tags", "data", "url")
        },
        "link_creation_timestamp": link["creation_timestamp"],
        "link_creation_source": link["creation_source"],
        "link_branch_identity_id": link["branch_identity_id"],
        "link_id": link["link_id"],
    }


def event_row(rng, seed, app_id, day, number) -> dict[str, str]:
    moment = syn.moment_in_day(rng, day)
    os_name, versions = rng.choice(syn.OSES)
    row = {
        "id": syn.stable_id(seed, app_id, "event", day, number),
        "name": rng.choice(syn.EVENT_NAMES),
        "metadata": syn.jdump(
            {
                "revenue": round(rng.uniform(0, 99), 2),
                "currency": "USD",
                "note": rng.choice(syn.TITLES),
            }
        ),
        "timestamp": legacy_time(moment),
        "branch_identity_id": syn.stable_id(seed, app_id, "identity", rng.randrange(5000)),
        "developer_identity": rng.choice(["", f"user-{rng.randrange(100000)}", "user@example.com"]),
        "identity_creation_timestamp": legacy_time(moment - dt.timedelta(days=rng.randrange(400))),
        "branch_session_id": syn.stable_id(seed, app_id, "session", day, number),
        "app_version": rng.choice(["1.0.0", "2.3.1", "2.4.0-beta", ""]),
        "ip_address": f"{rng.randrange(1, 255)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}",
        "session_start_timestamp": legacy_time(moment - dt.timedelta(seconds=rng.randrange(600))),
        "branch_device_fingerprint_id": syn.stable_id(seed, app_id, "device", rng.randrange(20000)),
        "device_first_seen_timestamp": legacy_time(moment - dt.timedelta(days=rng.randrange(700))),
        "device_os": os_name,
        "device_os_version": rng.choice(versions),
        "device_metadata": syn.jdump(
            {
                "model": rng.choice(syn.MODELS),
                "country": rng.choice(syn.COUNTRIES),
                "carrier": rng.choice(["Verizon", "O2", "ドコモ", ""]),
            }
        ),
        "hardware_id": syn.stable_id(seed, "hw", rng.randrange(20000), digits=16),
        "google_advertising_id": "" if os_name != "ANDROID" else f"{rng.getrandbits(128):032x}",
        "branch_browser_fingerprint_id": "",
        "browser_first_seen_timestamp": "",
        "browser_os": "",
        "browser_os_version": "",
        "user_agent": rng.choice(syn.USER_AGENTS),
    }
    for prefix in ("first_referring_", "session_referring_"):
        if rng.random() < 0.4:
            for column in EVENT_COLUMNS:
                if column.startswith(prefix):
                    row[column] = ""
            continue
        link = _link_fields(rng, seed, app_id, day, -1)
        row.update(
            {
                f"{prefix}click_timestamp": legacy_time(
                    moment - dt.timedelta(minutes=rng.randrange(90))
                ),
                f"{prefix}click_query_params": syn.jdump(
                    {"utm_source": rng.choice(syn.CHANNELS), "q": 'a,b "c"'}
                ),
                f"{prefix}branch_identity_id": link["branch_identity_id"],
                f"{prefix}developer_identity": "",
                f"{prefix}hardware_id": "",
                f"{prefix}branch_link_id": link["link_id"],
                f"{prefix}link_creation_timestamp": link["creation_timestamp"],
                **{
                    f"{prefix}link_{k}": link[k]
                    for k in ("channel", "feature", "campaign", "stage", "tags", "data", "url")
                },
                f"{prefix}link_creation_source": link["creation_source"],
            }
        )
    return row
