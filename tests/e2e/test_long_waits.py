"""Long waits say so at least once a minute, under the stream that waits, and the Custom
Exports budget is estimated up front. The clock is set, never slept on."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import ratelimit
from tap_branch.api.ratelimit import WAIT_LOG_INTERVAL_SECONDS, Limiter
from tests.support.tap_runner import run_tap


class FakeTime:
    """A clock that only moves when the tap sleeps: pyrate-limiter's clock backend and the
    tap's `ratelimit.sleep` at once."""

    def __init__(self) -> None:
        self.ms = 1_000_000
        self.sleeps: list[float] = []

    def now(self) -> int:
        return self.ms

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.ms += round(seconds * 1000)


@pytest.fixture
def fake_time(monkeypatch) -> FakeTime:
    clock = FakeTime()
    monkeypatch.setattr(ratelimit, "sleep", clock.sleep)
    return clock


def test_a_full_hour_window_logs_every_minute_under_the_waiting_stream(fake_time, caplog):
    creator = logging.getLogger("tap-branch.custom_eo_click")
    waiting = logging.getLogger("tap-branch.custom_eo_open")
    limiter = Limiter("test-hour", [(1, 3600)], creator, clock=fake_time)
    caplog.set_level(logging.INFO)
    limiter.acquire("the first job")
    limiter.acquire("the second job", waiting)
    waited = sum(fake_time.sleeps)
    assert 3600 <= waited <= 3604  # the window and its margins (50 ms, and 0.1%: 3.6 s)
    assert max(fake_time.sleeps) <= WAIT_LOG_INTERVAL_SECONDS
    lines = [r for r in caplog.records if "the second job" in r.getMessage()]
    # One line before every minute of waiting, each with the time still left.
    assert len(lines) >= waited // WAIT_LOG_INTERVAL_SECONDS
    assert {r.name for r in lines} == {"tap-branch.custom_eo_open"}
    assert "waiting 3603.65 s" in lines[0].getMessage()
    assert "1 requests / 3600 s window is full" in lines[-1].getMessage()


def test_a_429_asking_for_an_hour_is_waited_out_saying_so_every_minute(
    sandbox, base_config, fake_time
):
    sandbox.fault(kind="rate_limit", path="/v1/export", retry_after=3600, header=True)
    run = run_tap(base_config, select=["links"])
    assert run.error is None and run.records("links")
    assert sum(fake_time.sleeps) == pytest.approx(3600.5)
    assert max(fake_time.sleeps) <= WAIT_LOG_INTERVAL_SECONDS
    lines = [line for line in run.logs.splitlines() if "Branch rate limit" in line]
    assert len(lines) >= 3600 // WAIT_LOG_INTERVAL_SECONDS
    assert "Branch rate limit reached; waiting 3600.5 s before retrying" in lines[0]
    assert "still waiting, 60 s of 3600 s left" in run.logs
    # Logged by the stream that waits.
    assert all(line.split()[1].endswith("links") for line in lines), lines[:2]


def test_a_429_longer_than_rate_limit_max_wait_fails_naming_the_setting(
    sandbox, base_config, fake_time
):
    sandbox.fault(kind="rate_limit", path="/v1/export", retry_after=7200, header=True)
    run = run_tap({**base_config, "rate_limit_max_wait": 3600}, select=["links"], expect_error=True)
    assert isinstance(run.error, FatalAPIError)
    assert "'rate_limit_max_wait'" in str(run.error)
    assert fake_time.sleeps == []  # not an hour of waiting for a wait that cannot be allowed


def test_custom_exports_estimate_their_budget_before_the_first_job(sandbox, base_config):
    # 110 days in windows of 60: 2 jobs, ~110 days of data, against 100 days an hour.
    start = dt.date.fromisoformat(base_config["start_date"]) - dt.timedelta(days=107)
    sandbox.fault(kind="status", status=400, path="/v2/logs", times=-1)  # stop at the first job
    run = run_tap(
        {**base_config, "start_date": start.isoformat()},
        select=["custom_eo_click", "custom_eo_open"],
        expect_error=True,
    )
    assert run.error is not None  # the fault, after the estimate
    first = next(line for line in run.logs.splitlines() if "export job(s)" in line)
    assert "custom_eo_click (app sandbox-app)" in first and "in 2 export job(s)" in first
    assert "2 Custom Exports report type(s) selected share Branch's limits" in first
    assert re.search(
        r"needs 2 export job\(s\) and 11\d day\(s\) of data, but the limits allow 25 job", run.logs
    )
    assert "this report type alone takes at least 1.0 hours (estimate)" in run.logs
    assert "all of them take at least 2.0 hours (estimate)" in run.logs
    jobs = [r for r in sandbox.requests_log() if r["path"].startswith("/v2/logs")]
    assert len(jobs) == 1  # estimated before the first job, not after spending them
