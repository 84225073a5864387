"""Daily files: one csv.gz per app and UTC day, listed by Branch and read whole.

`v1` is the legacy Daily Export API (`links`, `link_clicks`, `events`), `v3` the event-level
Daily Exports v3 (`daily_eo_*`); `files` is what they share (the per-day walk, the bookmark
per app, the retries of a day whose files are not ready).
"""

from __future__ import annotations

import functools
import typing as t

from tap_branch.config.apps import configured_apps, secret_setting
from tap_branch.config.probes import Probe, deselect_advice
from tap_branch.streams.daily import v1, v3
from tap_branch.streams.daily.cache import DailyCache as Cache

if t.TYPE_CHECKING:
    from tap_branch.streams.daily.files import DailyFileStream

__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]

SETTINGS = [*v1.SETTINGS]


def build_streams(tap) -> list:
    return [*v1.build_streams(tap), *v3.build_streams(tap)]


def check_settings(config, streams: list) -> None:
    """Nothing beyond the streams' credentials (`start_date` is everyone's)."""


def probes(tap, streams: list[DailyFileStream], *, first_run: bool) -> list[Probe]:
    """`branch_key` + `branch_secret` of each app: a day's file list of each API (v1, v3) with
    selected streams, the request a daily stream starts with. On a first run, the first day of
    its first selected stream, which it asks anyway (cached for the run); for `--test`, the
    last day it would read."""
    config = tap.config
    apps = [app for app in configured_apps(config) if app.branch_secret]
    by_api: dict[str, DailyFileStream] = {}
    for stream in streams:
        by_api.setdefault(stream.family, stream)
    found = []
    for stream in by_api.values():
        siblings = tuple(s for s in streams if s.family == stream.family)
        for app in apps:
            if first_run:
                day = min(stream.first_day({"app_id": app.app_id}), stream.last_day())
            else:
                day = stream.last_day()
            found.append(
                Probe(
                    credential=f"branch_key/branch_secret of app {app.app_id}",
                    setting=secret_setting(config, app.app_id),
                    asks=f"the file list of {day} ({stream.product}, app {app.app_id})",
                    call=functools.partial(_list_files, stream, app, day),
                    product=stream.product,
                    avoid=deselect_advice(siblings),
                    streams=siblings,
                    asked=app.app_id,
                    url_setting=stream.url_setting,
                )
            )
    return found


def _list_files(stream: DailyFileStream, app, day) -> None:
    stream.manifest(app, day)  # cached: the stream's own first request


def idle_reasons(tap, streams: list) -> list[str]:
    return []  # every selected daily stream reads what its credentials give
