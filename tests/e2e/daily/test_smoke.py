"""Daily exports end to end against the sandbox: rows, state, a second run, the next day."""

from __future__ import annotations

import datetime as dt

from tests.support.sandbox import utc_today
from tests.support.tap_runner import run_tap

DAILY = ["links", "link_clicks", "events"]


def test_daily_exports_incremental_by_day(sandbox, base_config):
    today = utc_today()
    # The sandbox lives one day behind: the tap's "yesterday" is the sandbox's today, not ready yet.
    sandbox.set_today(today - dt.timedelta(days=1))
    first = run_tap(base_config, select=DAILY)
    days = {r["export_date"][:10] for r in first.records("events")}
    assert days == {(today - dt.timedelta(days=n)).isoformat() for n in (3, 2)}
    assert "not ready yet" in first.logs
    for stream in DAILY:
        bookmark = first.state["bookmarks"][stream]["partitions"][0]["replication_key_value"]
        assert bookmark.startswith((today - dt.timedelta(days=2)).isoformat())

    again = run_tap(base_config, state=first.state, select=DAILY)
    assert again.streams_with_records == set()

    sandbox.advance_days(1)
    next_day = run_tap(base_config, state=again.state, select=DAILY)
    for stream in DAILY:
        assert {r["export_date"][:10] for r in next_day.records(stream)} == {
            (today - dt.timedelta(days=1)).isoformat()
        }
    ids = [r["id"] for r in next_day.records("events")]
    assert len(ids) == len(set(ids)) > 0
