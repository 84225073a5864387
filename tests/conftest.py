"""Fixtures: a real sandbox HTTP server on a free port, and tap configs pointing at it."""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest
import requests

from tap_branch.sandbox.runner import RunningSandbox, serve_in_thread
from tap_branch.sandbox.server import SandboxConfig

SANDBOX_KEY = "key_live_sandbox"
SANDBOX_SECRET = "secret_live_sandbox"
SANDBOX_TOKEN = "api_app_sandbox"
SANDBOX_APP = "sandbox-app"


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()


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
        requests.post(f"{self.url}/_sandbox/clock", json={"today": day.isoformat()}, timeout=10).raise_for_status()

    def advance_days(self, days: int = 1) -> None:
        requests.post(f"{self.url}/_sandbox/clock", json={"advance_days": days}, timeout=10).raise_for_status()

    def options(self, **options: t.Any) -> None:
        requests.post(f"{self.url}/_sandbox/options", json=options, timeout=10).raise_for_status()

    def expire_urls(self) -> None:
        requests.post(f"{self.url}/_sandbox/expire-urls", timeout=10).raise_for_status()

    def requests_log(self) -> list[dict]:
        return requests.get(f"{self.url}/_sandbox/requests", timeout=10).json()

    def clear_requests(self) -> None:
        requests.delete(f"{self.url}/_sandbox/requests", timeout=10).raise_for_status()


def start_sandbox(**config: t.Any) -> RunningSandbox:
    return serve_in_thread(SandboxConfig(**config))


@pytest.fixture
def sandbox() -> t.Iterator[SandboxControl]:
    """A fresh sandbox per test (its own clock, faults, options), on a free port."""
    running = start_sandbox()
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


@pytest.fixture
def base_config(sandbox: SandboxControl) -> dict:
    """Every credential the sandbox accepts, start_date a few days back."""
    return {
        "start_date": (utc_today() - dt.timedelta(days=3)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
        "backoff_factor": 0.05,
    }
