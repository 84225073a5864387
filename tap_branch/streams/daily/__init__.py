"""Daily files: one csv.gz per app and UTC day, listed by Branch and read whole.

`v1` is the legacy Daily Export API (`links`, `link_clicks`, `events`), `v3` the event-level
Daily Exports v3 (`daily_eo_*`); `files` is what they share (the per-day walk, the bookmark
per app, the retries of a day whose files are not ready).
"""

from tap_branch.streams.daily import v1, v3

SETTINGS = [*v1.SETTINGS]


def build_streams(tap) -> list:
    return [*v1.build_streams(tap), *v3.build_streams(tap)]
