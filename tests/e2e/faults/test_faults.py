"""One test per injected fault: the sync recovers with exactly a clean run's rows, or fails clearly.

Each test first runs the tap on a clean sandbox, then scripts a fault into the
same sandbox (same seed, so the same files) and runs again from no state.
"""

from __future__ import annotations

import re

import pytest

from tap_branch.api.stream import BranchStream
from tap_branch.errors import DownloadError, SignedUrlExpiredError
from tests.support.sandbox import (
    DAILY_STREAMS,
    days_back,
    export_requests,
    file_requests,
    small_batches,
)
from tests.support.tap_runner import TapRun, run_tap


@pytest.fixture(autouse=True)
def _retry_waits_without_random_second(monkeypatch):
    """The SDK adds up to a second of random jitter to every retry wait, whatever
    `backoff_factor` says; these tests retry a lot and only care that they do."""
    monkeypatch.setattr(BranchStream, "backoff_jitter", lambda self, value: value)


@pytest.fixture
def config(base_config) -> dict:
    """Two days (d-2, d-1): enough for a fault on the second day to leave the first complete."""
    return {**base_config, "start_date": days_back(2)[0].isoformat()}


@pytest.fixture
def clean(sandbox, config) -> TapRun:
    # Small days, still several files each: faults hit one file among others.
    sandbox.options(
        daily_rows={"links": 20, "link_clicks": 40, "events": 60}, daily_rows_per_file=25
    )
    run = run_tap(config, select=DAILY_STREAMS)
    sandbox.clear_requests()
    return run


def assert_same_rows(run: TapRun, clean: TapRun) -> None:
    assert run.error is None
    for stream in DAILY_STREAMS:
        assert run.records(stream) == clean.records(stream), (
            f"{stream}: rows lost, duplicated or changed"
        )
    assert run.state == clean.state


def _day_file(day_offset: int, kind: str, index: int) -> str:
    """Path fragment of one sandbox file: `/<day>/<kind>/<index>-`."""
    return f"/{days_back(day_offset)[0].isoformat()}/{kind}/{index}-"


def test_5xx_from_the_export_api_is_retried(sandbox, config, clean):
    sandbox.fault(kind="status", status=503, path="/v1/export", times=2)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert [r["status"] for r in export_requests(sandbox)][:3] == [503, 503, 200]
    assert run.logs.count("Retrying in") == 2 and "HTTP 503" in run.logs


def test_5xx_from_the_file_host_is_retried(sandbox, config, clean):
    sandbox.fault(kind="status", status=500, path=_day_file(1, "events", 1), times=2)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert [
        r["status"] for r in file_requests(sandbox) if _day_file(1, "events", 1) in r["path"]
    ] == [500, 500, 200]


def test_persistent_5xx_fails_clearly_and_keeps_the_completed_days(sandbox, config, clean):
    failing = _day_file(1, "events", 1)
    sandbox.fault(kind="status", status=502, path=failing, times=-1)
    run = run_tap({**config, "max_retries": 2}, select=["events"], expect_error=True)
    assert run.error is not None
    message = str(run.error)
    assert "HTTP 502" in message and failing in message
    assert "X-Amz-Signature=REDACTED" in message  # the URL is named, its signature is not
    # Day d-2 is complete and bookmarked; d-1 is not.
    bookmark = run.state["bookmarks"]["events"]["partitions"][0]["replication_key_value"]
    assert bookmark.startswith(days_back(2)[0].isoformat())

    # The next run redoes the broken day from its start: with the first run's
    # complete days, exactly the clean rows (the broken day's first file, already
    # sent once, is sent again and replaces itself by primary key downstream).
    sandbox.clear_faults()
    rerun = run_tap(config, state=run.state, select=["events"])
    d1 = days_back(1)[0].isoformat()
    complete_days = [r for r in run.records("events") if not r["export_date"].startswith(d1)]
    assert complete_days + rerun.records("events") == clean.records("events")


def test_connection_reset_mid_download_resumes(sandbox, config, clean):
    sandbox.fault(kind="reset", path=_day_file(1, "events", 0), fraction=0.5)
    sandbox.fault(kind="reset", path=_day_file(2, "link_clicks", 1), fraction=0.3)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert run.logs.count("download broke off") == 2
    assert [r["fault"] for r in file_requests(sandbox)].count("reset") == 2


def test_connection_reset_of_the_export_answer_is_retried(sandbox, config, clean):
    sandbox.fault(kind="reset", path="/v1/export", fraction=0.5)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert "Retrying in" in run.logs


def test_truncated_gzip_resumes_after_the_rows_already_read(sandbox, config, monkeypatch):
    # Files of a few hundred rows read in batches of a few, so that rows were emitted before
    # the break (pyarrow reads some blocks ahead, and a real day's batches are 8 MB).
    small_batches(monkeypatch, 4096)
    sandbox.options(
        daily_rows={"links": 5, "link_clicks": 5, "events": 600}, daily_rows_per_file=600
    )
    clean = run_tap(config, select=DAILY_STREAMS)
    sandbox.fault(kind="truncate", path=_day_file(1, "events", 0), fraction=0.6)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    resumed = re.search(r"broke off after (\d+) items \(EOFError\)", run.logs)
    assert resumed and int(resumed.group(1)) > 0, run.logs  # the skip path really ran


def test_truncated_gzip_every_time_fails_clearly(sandbox, config):
    failing = _day_file(1, "events", 0)
    sandbox.fault(kind="truncate", path=failing, fraction=0.6, times=-1)
    run = run_tap({**config, "max_retries": 2}, select=["events"], expect_error=True)
    assert isinstance(run.error, DownloadError)
    assert "broke off 2 times" in str(run.error) and failing in str(run.error)
    assert "?" not in str(run.error).split(" ")[0]  # the file is named without its signed query


def test_429_with_retry_after_header_waits_as_asked(sandbox, config, clean):
    sandbox.fault(kind="rate_limit", path="/v1/export", retry_after=1, header=True)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert "Branch rate limit reached; waiting 1.5 s" in run.logs
    assert [r["status"] for r in export_requests(sandbox)][:2] == [429, 200]


def test_429_with_the_wait_only_in_the_body_and_never_counting_as_a_retry(sandbox, config, clean):
    # Two 429s with max_retries=1: a rate limit costs time, never a retry.
    sandbox.fault(kind="rate_limit", path="/v1/export", retry_after=1, header=False, times=2)
    run = run_tap({**config, "max_retries": 1}, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert run.logs.count("Branch rate limit reached; waiting 1.5 s") == 2
    assert "retry after 1 seconds" in run.logs  # Branch's own words, where the wait came from


def test_expired_url_gets_a_fresh_one(sandbox, config, clean):
    sandbox.fault(kind="expire", path=_day_file(1, "link_clicks", 1))
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert "expired; asking Branch for a fresh one" in run.logs
    # Two days, plus one fresh answer for the expired day.
    assert len(export_requests(sandbox)) == 3


def test_urls_expired_before_the_next_stream_reads_them(sandbox, config, clean, monkeypatch):
    """The day's answer is shared by the three streams; by the time `link_clicks`
    reads its files (after `events`), every URL of that answer has expired."""
    take = sandbox.sandbox.faults.take
    expired = []

    def expire_on_first_click_file(request):
        if "/link_clicks/" in request.path and not expired:
            expired.append(request.path)
            sandbox.sandbox.expire_signed_urls()
        return take(request)

    monkeypatch.setattr(sandbox.sandbox.faults, "take", expire_on_first_click_file)
    run = run_tap(config, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert expired and run.logs.count("expired; asking Branch for a fresh one") >= 2


def test_url_that_stays_expired_fails_clearly(sandbox, config):
    failing = _day_file(1, "links", 0)
    sandbox.fault(kind="expire", path=failing, times=-1)
    run = run_tap(config, select=["links"], expect_error=True)
    assert isinstance(run.error, SignedUrlExpiredError)
    assert "HTTP 403" in str(run.error) and "AccessDenied: Request has expired" in str(run.error)
    assert "X-Amz-Signature=REDACTED" in str(run.error)
    assert run.logs.count("asking Branch for a fresh one") == 2


def test_slow_export_answer_times_out_and_is_retried(sandbox, config, clean):
    sandbox.fault(kind="slow", path="/v1/export", delay=1.5)
    run = run_tap({**config, "request_timeout": 1}, select=DAILY_STREAMS)
    assert_same_rows(run, clean)
    assert "Retrying in" in run.logs and "timed out" in run.logs.lower()


def test_wrong_secret_fails_with_branchs_message_and_no_secret(sandbox, config):
    run = run_tap(
        {**config, "branch_secret": "secret_live_wrong_one"},
        select=DAILY_STREAMS,
        expect_error=True,
    )
    assert run.error is not None
    assert "Authentication failed !" in str(run.error)
    assert "secret_live_wrong_one" not in str(run.error) and "secret_live_wrong_one" not in run.logs
    assert run.streams_with_records == set()


def test_a_fresh_answer_listing_the_files_in_another_order_gives_each_file_once(
    sandbox, config, clean, monkeypatch
):
    """A 403 asks for a fresh answer; nothing says Branch keeps its order. The fresh URL of a
    file is found by its URL without query, never by its place in the list."""
    take = sandbox.sandbox.faults.take
    first_file = _day_file(1, "events", 0)

    def reorder_then_take(request):
        if first_file in request.path and not sandbox.sandbox.option("daily_file_order"):
            sandbox.sandbox.config.options["daily_file_order"] = "reversed"
        return take(request)

    monkeypatch.setattr(sandbox.sandbox.faults, "take", reorder_then_take)
    sandbox.fault(kind="truncate", path=first_file, times=1)  # read partly
    sandbox.fault(kind="expire", path=first_file, times=1)  # then a fresh URL
    run = run_tap(config, select=DAILY_STREAMS)
    assert "expired; asking Branch for a fresh one" in run.logs
    assert run.error is None and run.state == clean.state
    for stream in DAILY_STREAMS:  # the files after the refresh come in the other order
        assert sorted(map(repr, run.records(stream))) == sorted(map(repr, clean.records(stream)))
