"""The tests' sandbox helpers: its credentials, the moment every test runs at, a client of its
control endpoints, and what it holds to compare the tap's output with.

Tests never read the wall clock: the tap's clock (`tap_branch.clock`, in process and, through
its environment variable, in every tap subprocess) and every sandbox stand at `NOW`, a fixed
moment well inside an hour and a day, so no test depends on when it runs.
"""

from __future__ import annotations

import datetime as dt
import os
import typing as t

import pytest
import requests

from tap_branch import clock
from tap_branch_sandbox.runner import RunningSandbox, serve_in_thread
from tap_branch_sandbox.server import SandboxApp, SandboxConfig

SANDBOX_KEY = "key_live_sandbox"
SANDBOX_SECRET = "secret_live_sandbox"
SANDBOX_TOKEN = "api_app_sandbox"
SANDBOX_APP = "sandbox-app"


#: The moment every test runs at (the tap's clock and the sandboxes').
NOW = dt.datetime(2026, 3, 10, 10, 30, tzinfo=dt.timezone.utc)
os.environ[clock.ENV] = NOW.isoformat()  # tap subprocesses inherit it


def utc_today() -> dt.date:
    """The tests' today: NOW's day."""
    return NOW.date()


class SandboxControl:
    """Talks to a running sandbox's control endpoints over HTTP."""

    def __init__(self, running: RunningSandbox) -> None:
        self.running = running
        self.url = running.url
        self.sandbox = running.sandbox

    def fault(self, **rule: t.Any) -> None:
        requests.post(f"{self.url}/_sandbox/faults", json=rule, timeout=10).raise_for_status()

    def clear_faults(self) -> None:
        requests.delete(f"{self.url}/_sandbox/faults", timeout=10).raise_for_status()

    def set_today(self, day: dt.date) -> None:
        requests.post(
            f"{self.url}/_sandbox/clock", json={"today": day.isoformat()}, timeout=10
        ).raise_for_status()

    def advance_days(self, days: int = 1) -> None:
        requests.post(
            f"{self.url}/_sandbox/clock", json={"advance_days": days}, timeout=10
        ).raise_for_status()

    def options(self, **options: t.Any) -> None:
        requests.post(f"{self.url}/_sandbox/options", json=options, timeout=10).raise_for_status()

    def expire_urls(self) -> None:
        requests.post(f"{self.url}/_sandbox/expire-urls", timeout=10).raise_for_status()

    def requests_log(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/requests", timeout=10).json()

    def clear_requests(self) -> None:
        requests.delete(f"{self.url}/_sandbox/requests", timeout=10).raise_for_status()


def start_sandbox(**config: t.Any) -> RunningSandbox:
    return serve_in_thread(SandboxConfig(**sandbox_at_now(config)))


def sandbox_at_now(config: dict[str, t.Any]) -> dict[str, t.Any]:
    """A sandbox config whose clock stands at NOW (its today, and its Custom Exports hour)."""
    options = {"custom_now": NOW.isoformat(), **(config.get("options") or {})}
    return {"today": NOW.date(), **config, "options": options}


DAILY_STREAMS = ("links", "link_clicks", "events")
#: The natural key of each daily stream (the primary key is `app_id` plus this).
DAILY_KEYS = {"links": "link_id", "link_clicks": "branch_link_click_id", "events": "id"}


def small_batches(monkeypatch: pytest.MonkeyPatch, batch_bytes: int) -> None:
    """The columnar path in batches of `batch_bytes`, for RECORD lines and BATCH files alike:
    a file of the sandbox's then spans several batches."""
    from tap_branch.files import csv_batches

    for name in ("LEAN", "FAST"):
        pace = getattr(csv_batches, name)
        small = pace._replace(
            batch_bytes=batch_bytes, block_bytes=min(pace.block_bytes, batch_bytes)
        )
        monkeypatch.setattr(csv_batches, name, small)


def days_back(*offsets: int) -> list[dt.date]:
    """UTC days `offset` days before today, oldest first."""
    today = utc_today()
    return sorted(today - dt.timedelta(days=n) for n in offsets)


def sandbox_volumes(
    control: SandboxControl, app_id: str, days: t.Iterable[dt.date]
) -> dict[str, dict[str, int]]:
    """Rows the sandbox serves per stream and day (`YYYY-MM-DD`) for one app."""
    from tap_branch_sandbox.daily_export import rows_for_day

    return {
        stream: {
            day.isoformat(): rows_for_day(control.sandbox, app_id, day, stream) for day in days
        }
        for stream in DAILY_STREAMS
    }


def volumes_of(records_by_stream: t.Mapping[str, list[dict]]) -> dict[str, dict[str, int]]:
    """Rows the tap emitted per stream and day."""
    counts: dict[str, dict[str, int]] = {}
    for stream, records in records_by_stream.items():
        per_day = counts.setdefault(stream, {})
        for record in records:
            day = record["export_date"][:10]
            per_day[day] = per_day.get(day, 0) + 1
    return counts


def export_requests(control: SandboxControl) -> list[dict]:
    """The daily export API requests (GET and POST forms) in the sandbox's request log."""
    return [r for r in control.requests_log() if r["path"].startswith(("/v1/export", "/v2/export"))]


def file_requests(control: SandboxControl) -> list[dict]:
    return [r for r in control.requests_log() if r["path"].startswith("/files/")]


#: A second Branch app for the multi-app tests (`two_app_sandbox`).
SECOND = SandboxApp("second-app", "key_live_second", "secret_live_second_app")
