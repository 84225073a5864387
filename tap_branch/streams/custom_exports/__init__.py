"""Custom Exports (`/v2/logs`): one opt-in stream per report type, event-level NDJSON files.

`fields` lists the fields each report type requests, `settings` the family's settings,
`readiness` finds the last hour Branch has finished, `jobs` creates an export job and waits
for its files, `stream` walks the windows and emits the rows.
"""

from __future__ import annotations

import datetime as dt

from tap_branch import clock
from tap_branch.config.apps import v2_app_ids
from tap_branch.config.probes import Probe, deselect_advice
from tap_branch.records.schemas.event_topics import READINESS_TOPICS
from tap_branch.streams.custom_exports.cache import CustomExportsCache as Cache
from tap_branch.streams.custom_exports.readiness import floor_hour
from tap_branch.streams.custom_exports.settings import SETTINGS
from tap_branch.streams.custom_exports.stream import build_streams

__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]

PRODUCT = "Custom Exports"


def check_settings(config, streams: list) -> None:
    """Nothing beyond the streams' credentials (a field Branch refuses is dropped with a
    warning, a filter is Branch's to judge)."""


def probes(tap, streams: list, *, first_run: bool) -> list[Probe]:
    """`access_token`: Branch's readiness of the last hour for the first app and the first
    selected `eo_*` report type (`POST /v2/data/ready`, read-only; no export job). Without
    such a report type the first export job is the check."""
    if not tap.config.get("access_token"):
        return []
    stream = next((s for s in streams if s.report_type in READINESS_TOPICS), None)
    app_ids = v2_app_ids(tap.config, [s.name for s in streams])
    if stream is None or not app_ids:
        return []
    hour = floor_hour(clock.now()) - dt.timedelta(hours=1)
    return [
        Probe(
            credential="access_token",
            setting="setting 'access_token'",
            asks=f"the readiness of {hour:%Y-%m-%d %H}:00 for {stream.report_type} (app {app_ids[0]})",
            call=lambda: _ready(stream, app_ids[0], hour),
            product=PRODUCT,
            avoid=deselect_advice(streams),
            streams=tuple(streams),
            asked=app_ids[0],
            url_setting="api2_url",
        )
    ]


def _ready(stream, app_id: str, hour: dt.datetime) -> None:
    stream.hour_is_ready(app_id, hour)  # any answer but a refusal: the token is accepted


def idle_reasons(tap, streams: list) -> list[str]:
    return []
