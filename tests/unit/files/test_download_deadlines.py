"""Every download ends: a file that drips, a file or an answer that never comes, each fails
naming what was asked (the day and file, the subscription), never a bare `Read timed out`.

Timeouts are set to a second, so each test ends within a few seconds; the sandbox's drip would
take minutes to send its file, so a tap that waits for it fails the test by finishing cleanly.
"""

from __future__ import annotations

import time

import pytest

from tap_branch.api.stream import BranchStream
from tap_branch.errors import DownloadError, NoAnswerError
from tests.support.sandbox import days_back
from tests.support.tap_runner import run_tap

#: A second per request, two tries: a fault that lasts fails the run in seconds.
SHORT = {"request_timeout": 1, "max_retries": 2, "backoff_factor": 0.05}


@pytest.fixture(autouse=True)
def _retry_waits_without_random_second(monkeypatch):
    monkeypatch.setattr(BranchStream, "backoff_jitter", lambda self, value: value)


@pytest.fixture
def config(base_config) -> dict:
    return {**base_config, "start_date": days_back(2)[0].isoformat(), **SHORT}


def _links_file(day_offset: int, index: int) -> str:
    return f"/{days_back(day_offset)[0].isoformat()}/links/{index}-"


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "rows"])
def test_a_dripping_file_fails_naming_day_and_file_within_a_few_timeouts(sandbox, config, columnar):
    sandbox.options(daily_rows={"links": 40}, daily_rows_per_file=20)
    failing = _links_file(1, 1)
    # 200 bytes at once, then 20 bytes a second:
    # every read is answered well within request_timeout, the file would take minutes.
    sandbox.fault(kind="drip", path=failing, head=200, bytes=1, every=0.05, times=-1)
    started = time.monotonic()
    run = run_tap({**config, "columnar_files": columnar}, select=["links"], expect_error=True)
    elapsed = time.monotonic() - started

    assert isinstance(run.error, DownloadError), run.error
    message = str(run.error)
    day = days_back(1)[0].isoformat()
    assert f"links file 2 of {day}" in message and failing in message
    assert "stalled" in message and "download_stall_bytes" in message
    assert "?" not in message and "X-Amz" not in message
    # Two tries of about a request_timeout each, and a short wait between them.
    assert elapsed < 10 * SHORT["request_timeout"]
    assert run.logs.count("download broke off after") == 1  # retried once, where it broke off
    # The day before is complete and bookmarked; the dripping day is not.
    bookmark = run.state["bookmarks"]["links"]["partitions"][0]["replication_key_value"]
    assert bookmark.startswith(days_back(2)[0].isoformat())


def test_a_slow_file_that_keeps_its_pace_is_read(sandbox, config):
    """Not a stall: a file that sends at least `download_stall_bytes` per `request_timeout`."""
    sandbox.options(daily_rows={"links": 20}, daily_rows_per_file=20)
    clean = run_tap(config, select=["links"])
    sandbox.fault(kind="drip", path=_links_file(1, 0), bytes=200, every=0.05, times=-1)
    run = run_tap({**config, "download_stall_bytes": 1000}, select=["links"])
    assert run.error is None
    assert run.records("links") == clean.records("links")
    assert "download broke off" not in run.logs


def test_a_file_whose_headers_never_come_fails_naming_day_and_file(sandbox, config):
    sandbox.options(daily_rows={"links": 20}, daily_rows_per_file=20)
    failing = _links_file(1, 0)
    sandbox.fault(kind="slow", path=failing, delay=1.5, times=-1)
    run = run_tap(config, select=["links"], expect_error=True)
    assert isinstance(run.error, DownloadError), run.error
    message = str(run.error)
    assert f"links file 1 of {days_back(1)[0].isoformat()}" in message and failing in message
    assert "no answer after 2 tries" in message and "request_timeout (1 s)" in message
    assert "X-Amz" not in message


@pytest.mark.parametrize("configured", [True, False], ids=["configured", "listed"])
def test_a_subscription_that_never_answers_fails_naming_it(sandbox, base_config, configured):
    config = {**base_config, **SHORT}
    if configured:
        config["scheduled_exports"] = [{"subscription_id": "sandbox-sub-1"}]
    sandbox.fault(kind="slow", path="/sandbox-sub-1/", delay=1.5, times=-1)
    run = run_tap(
        config,
        # A state: the sync itself, not the first run's credential check (`tap_branch.config.connection`).
        state={"bookmarks": {"scheduled_export_jobs": {"partitions": []}}},
        select=["scheduled_export_jobs", "scheduled_export_rows"],
        expect_error=True,
    )
    assert isinstance(run.error, NoAnswerError), run.error
    message = str(run.error)
    assert "listing the jobs of" in message and "sandbox-sub-1" in message
    assert "no answer after 2 tries" in message and "request_timeout (1 s)" in message
    assert "refused" not in message  # nothing was refused: nothing answered


def test_a_credits_page_that_never_comes_fails_naming_stream_and_endpoint(sandbox, base_config):
    """The SDK's own request loop (`request_records`) too: not a bare `Read timed out`."""
    config = {**base_config, **SHORT, "credit_identities": ["user-1"]}
    sandbox.fault(kind="slow", path="/v1/credithistory", delay=1.5, times=-1)
    run = run_tap(
        config,
        state={"bookmarks": {"credit_history": {"partitions": []}}},  # the sync, not the check
        select=["credit_history"],
        expect_error=True,
    )
    assert isinstance(run.error, NoAnswerError), run.error
    message = str(run.error)
    assert message.startswith("credit_history: GET ") and "/v1/credithistory for " in message
    assert "user-1" in message and "no answer after 2 tries" in message
    assert "?" not in message and "secret_live_sandbox" not in message


def test_a_file_whose_first_bytes_come_one_at_a_time_is_read(sandbox, config):
    """The checks of a file's start (`file_checks`: gzip magic, not a web page) look at its
    first bytes, not at whatever one read brought: a host may send its first byte alone."""
    sandbox.options(daily_rows={"links": 20}, daily_rows_per_file=20)
    clean = run_tap(config, select=["links"])
    sandbox.fault(kind="drip", path=_links_file(1, 0), bytes=1, every=0.05, until=4, times=-1)
    run = run_tap(config, select=["links"])
    assert run.error is None
    assert run.records("links") == clean.records("links") != []
    assert "not a Branch export file" not in run.logs and "download broke off" not in run.logs


@pytest.mark.parametrize(
    "pace",
    [
        {"head": 200, "bytes": 1, "every": 0.05},  # each read answered in time, never enough
        {"head": 200, "bytes": 1 << 20, "every": 1.5},  # then nothing within request_timeout
    ],
    ids=["drip", "silence"],
)
def test_a_stalled_file_gets_one_retry_whatever_max_retries(sandbox, base_config, pace):
    """Each try of a stalled file costs a whole request_timeout: with the default max_retries
    (6) a dripping file would take six of them (30 minutes at the default 300 s)."""
    sandbox.options(daily_rows={"links": 40}, daily_rows_per_file=20)
    config = {**base_config, "start_date": days_back(2)[0].isoformat()}
    config.update(request_timeout=1, backoff_factor=0.05)  # max_retries: its default
    failing = _links_file(1, 1)
    sandbox.fault(kind="drip", path=failing, times=-1, **pace)
    run = run_tap(config, select=["links"], expect_error=True)
    assert isinstance(run.error, DownloadError), run.error
    assert failing in str(run.error) and "broke off 2 times" in str(run.error)
    assert run.logs.count("download broke off after") == 1
