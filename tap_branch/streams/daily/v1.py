"""Legacy daily exports (daily-export-api-v1.md): `links`, `link_clicks`, `events`.

The document contradicts itself about the request. Its example is
`GET {api_url}/v1/export/{branch_key}?branch_secret=...&export_date=YYYY-MM-DD`
(key in the path, secret in the query), its endpoint line `POST /v2/export`
with a JSON body. The example's form is tried first; a 404 or 405 switches the
rest of the run to the POST form.
"""

from __future__ import annotations

import datetime as dt
import typing as t

from singer_sdk import typing as th

from tap_branch.api.auth import BranchKeyAuthenticator
from tap_branch.config.apps import BranchApp
from tap_branch.records.schemas.daily_export import (
    EVENT_COLUMNS,
    LINK_CLICK_COLUMNS,
    LINK_COLUMNS,
    column_kind,
)
from tap_branch.streams.daily.cache import DailyCache, Manifest
from tap_branch.streams.daily.files import DailyFileStream, parse_manifest

SETTINGS = [
    th.Property(
        "empty_day_grace_days",
        th.IntegerType(minimum=0),
        default=2,
        description="Daily exports: a day whose file lists are all empty counts as not published yet while it "
        "is at most this many days old (the sync stops there and retries it next run); older empty days are "
        "days without data and are passed.",
    ),
]

_TYPES = {
    "date-time": th.DateTimeType,
    "object": th.ObjectType(additional_properties=True),
    "array": th.ArrayType(th.StringType),
    "boolean": th.BooleanType,
    "string": th.StringType,
}

RESPONSE_LISTS = {
    "links": "links_export_url",
    "link_clicks": "clicks_export_url",
    "events": "events_export_url",
}


def _columns(names: t.Sequence[str]) -> dict[str, th.JSONTypeHelper]:
    return {name: _TYPES[column_kind(name)] for name in names}


class DailyExportStream(DailyFileStream):
    family = "daily_export_v1"
    product = "the legacy Daily Export API"
    path = "/v1/export/{branch_key}"

    def request_manifest(self, app: BranchApp, day: dt.date) -> Manifest:
        cache = self.caches.of(DailyCache)
        use_post = cache.use_post
        if not use_post:
            response = self._send_export_request(app, day, post=False)
            if response.status_code in (404, 405):
                self.logger.info(
                    "GET /v1/export answered %s; using the documented POST /v2/export form from now on.",
                    response.status_code,
                )
                cache.use_post = True
                use_post = True
            else:
                return self._parse_manifest(response, day, app)
        return self._parse_manifest(self._send_export_request(app, day, post=True), day, app)

    def _send_export_request(self, app: BranchApp, day: dt.date, *, post: bool):
        what = f"asking for the daily export files of {day} (app {app.app_id})"
        if post:
            return self.send(
                "POST",
                "/v2/export",
                what=what,
                json={"export_date": day.isoformat()},
                auth=BranchKeyAuthenticator(app, location="json"),
            )
        return self.send(
            "GET",
            f"/v1/export/{app.branch_key}",
            what=what,
            params={"export_date": day.isoformat()},
            auth=BranchKeyAuthenticator(app, location="query", fields=("branch_secret",)),
            tolerate=(404, 405),
        )

    def _parse_manifest(self, response, day: dt.date, app: BranchApp) -> Manifest:
        return parse_manifest(
            response,
            f"the request for the daily export files of {day} (app {app.app_id})",
            RESPONSE_LISTS,
        )


class LinksStream(DailyExportStream):
    name = "links"
    kind = "links"
    primary_keys = ("app_id", "link_id")
    schema = DailyFileStream.schema_for(_columns(LINK_COLUMNS))


class LinkClicksStream(DailyExportStream):
    name = "link_clicks"
    kind = "link_clicks"
    primary_keys = ("app_id", "branch_link_click_id")
    schema = DailyFileStream.schema_for(_columns(LINK_CLICK_COLUMNS))


class EventsStream(DailyExportStream):
    name = "events"
    kind = "events"
    primary_keys = ("app_id", "id")
    schema = DailyFileStream.schema_for(_columns(EVENT_COLUMNS))


def build_streams(tap) -> list:
    return [LinksStream(tap), LinkClicksStream(tap), EventsStream(tap)]
