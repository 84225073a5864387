"""The fault matrix of issue 9: what Branch (or what stands in front of it) may answer instead of
the data, one case per kind of answer.

Every case ends one of two ways, and no other:
- recovered: exit 0 with every row of a clean run (`assert_recovered`);
- loud: an error naming the day, file, job or setting, with the bookmark not past the data
  (`assert_loud`).
Never exit 0 with fewer rows.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing as t

import pytest
import requests

from tap_branch.api import ratelimit
from tap_branch.api.stream import BranchStream
from tap_branch.errors import InvalidStateError, retry_after_seconds
from tests.support.sandbox import SandboxControl, days_back, file_requests, start_sandbox, utc_today
from tests.support.tap_runner import TapRun, run_tap


@pytest.fixture(autouse=True)
def _retry_waits_without_random_second(monkeypatch):
    """The SDK adds up to a second of random jitter to every retry wait; these cases retry a lot."""
    monkeypatch.setattr(BranchStream, "backoff_jitter", lambda self, value: value)


# --- outcomes -------------------------------------------------------------------------------


def assert_recovered(run: TapRun, clean: TapRun, streams: t.Iterable[str]) -> None:
    """Exit 0 and exactly the rows and the bookmarks of a clean run."""
    assert run.error is None, run.error
    for stream in streams:
        assert run.records(stream) == clean.records(stream), f"{stream}: rows lost or changed"
    assert run.state == clean.state


def assert_loud(run: TapRun, *names: str) -> str:
    """Exit non-zero with an error naming each of `names`, never a URL signature."""
    assert run.error is not None, "exit 0: the fault passed silently"
    message = str(run.error)
    for name in names:
        assert name in message, f"{name!r} not named in: {message}"
    for key in ("X-Amz-Signature=", "X-Amz-Credential="):
        assert message.count(key) == message.count(f"{key}REDACTED"), message
    return message


def bookmark_of(run: TapRun, stream: str, context: dict | None = None) -> str | None:
    """The replication_key_value of a stream's partition (the only one, or `context`'s)."""
    stream_state = run.state.get("bookmarks", {}).get(stream, {})
    partitions = stream_state.get("partitions", [])
    if context is not None:
        partitions = [p for p in partitions if p.get("context") == context]
    if not partitions:
        return stream_state.get("replication_key_value")
    return partitions[0].get("replication_key_value")


# --- daily exports (csv.gz per day): two days, the fault on the second -----------------------

EVENTS = ["events"]
D2, D1 = (day.isoformat() for day in days_back(2, 1))


def _events_file(day: str, index: int) -> str:
    """Path fragment of one sandbox events file: `/<day>/events/<index>-`."""
    return f"/{day}/events/{index}-"


@pytest.fixture
def daily_config(base_config) -> dict:
    return {**base_config, "start_date": D2, "max_retries": 2}


@pytest.fixture
def daily_clean(sandbox, daily_config) -> TapRun:
    sandbox.options(daily_rows={"links": 5, "link_clicks": 5, "events": 60}, daily_rows_per_file=25)
    run = run_tap(daily_config, select=EVENTS)
    assert run.error is None and len(run.records("events")) > 50  # several files a day
    sandbox.clear_requests()
    return run


def assert_daily_loud(run: TapRun, failing: str, *names: str) -> str:
    """Loud, naming the file (without its query); day D2 bookmarked, D1 not."""
    message = assert_loud(run, failing, *names)
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(D2)
    return message


# Item 3: a 200 whose body is not the export. Item 5: an empty body, a file without a header.
WRONG_BODIES = {
    "html page": ({"body": "html"}, "text/html"),
    "xml document": ({"body": "xml"}, "application/xml"),
    "html served as gzip": ({"body": "html", "content_type": "application/gzip"}, "not gzip"),
    "gzipped html": ({"body": "html", "gzip": True}, "an HTML page"),
    "json where csv belongs": ({"body": "json_object"}, "header has no 'id'"),
    "0-byte file": ({"body": "empty"}, "empty (0 bytes)"),
    "no header line": ({"body": "blank"}, "no header line"),
}


@pytest.mark.parametrize("case", list(WRONG_BODIES))
def test_daily_file_with_a_wrong_body_is_retried_then_fails_naming_it(
    sandbox, daily_config, daily_clean, case
):
    rule, reason = WRONG_BODIES[case]
    failing = _events_file(D1, 1)
    sandbox.fault(kind="wrong_body", path=failing, times=-1, **rule)
    run = run_tap(daily_config, select=EVENTS, expect_error=True)
    message = assert_daily_loud(run, failing, reason)
    assert "not a Branch export file" in message and "gave up after 2 tries" in message
    # max_retries 2: tried again once before giving up
    assert [r["status"] for r in file_requests(sandbox) if failing in r["path"]] == [200, 200]


@pytest.mark.parametrize("case", ["html page", "0-byte file", "no header line"])
def test_daily_file_with_a_wrong_body_once_recovers(sandbox, daily_config, daily_clean, case):
    rule, _ = WRONG_BODIES[case]
    sandbox.fault(kind="wrong_body", path=_events_file(D1, 1), **rule)
    run = run_tap(daily_config, select=EVENTS)
    assert_recovered(run, daily_clean, EVENTS)
    assert "not a Branch export file" in run.logs and "retrying" in run.logs


# Item 4: a header without the key column.
def test_header_without_the_key_column_fails_naming_file_and_header(
    sandbox, daily_config, daily_clean
):
    failing = _events_file(D1, 0)
    sandbox.fault(kind="header", path=failing, rename={"id": "event_id"}, times=-1)
    run = run_tap(daily_config, select=EVENTS, expect_error=True)
    assert_daily_loud(run, failing, "header has no 'id' column", "event_id")
    assert all(r["id"] is not None for r in run.records("events"))


def test_file_without_its_header_line_fails(sandbox, daily_config, daily_clean):
    """The first data row would be read as the header: it names no key column."""
    failing = _events_file(D1, 1)
    sandbox.fault(kind="header", path=failing, drop=True, times=-1)
    run = run_tap(daily_config, select=EVENTS, expect_error=True)
    assert_daily_loud(run, failing, "header has no 'id' column")


# Item 7: a 429 whose Retry-After is neither seconds nor a date.
def test_429_with_retry_after_soon_falls_back_to_the_default_wait(
    sandbox, daily_config, daily_clean, monkeypatch
):
    waits: list[float] = []
    # The tap's waits are recorded, not slept (the default first wait is 10 s).
    monkeypatch.setattr(ratelimit, "sleep", waits.append)
    sandbox.fault(kind="rate_limit", path="/v1/export", header="soon", body_hint=False)
    run = run_tap(daily_config, select=EVENTS)
    assert_recovered(run, daily_clean, EVENTS)
    assert waits == [10.0]
    assert "Branch rate limit reached; waiting 10.0 s" in run.logs


# Item 1: a v1 answer without its URL lists, for a day past the grace period. Only lists that
# are present and empty mean a day without data.
OLD = [day.isoformat() for day in days_back(5, 4)]  # both older than empty_day_grace_days (2)
BAD_ANSWERS = {
    "empty object": (
        {},
        ["no links_export_url, clicks_export_url, events_export_url", "came back: none"],
    ),
    "error object": (
        {"error": {"message": "Export temporarily unavailable", "code": 500}},
        ["is an error", "Export temporarily unavailable"],
    ),
    "no url keys": (
        {"export_date": "x", "status": "ok"},
        ["keys that came back: 'export_date', 'status'"],
    ),
    "events list missing": (
        {"links_export_url": [], "clicks_export_url": []},
        ["no events_export_url"],
    ),
    "events list null": (
        {"links_export_url": [], "events_export_url": None, "clicks_export_url": []},
        ["'events_export_url' that is not a list of http(s) URLs"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_ANSWERS))
def test_daily_answer_without_its_url_lists_fails_naming_the_day(
    sandbox, base_config, daily_clean, case
):
    body, names = BAD_ANSWERS[case]
    # The first day's answer is good; the second day's (4 days old) is not.
    sandbox.fault(kind="status", status=200, body=body, path="/v1/export", after=1)
    run = run_tap({**base_config, "start_date": OLD[0]}, select=EVENTS, expect_error=True)
    assert_loud(run, f"daily export files of {OLD[1]}", "sandbox-app", *names)
    if "error" not in body:  # an error answer is described by Branch's own message
        assert "values not shown" in str(run.error)
    assert {r["export_date"][:10] for r in run.records("events")} == {OLD[0]}
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(OLD[0])


def test_daily_answer_with_present_empty_lists_is_a_day_without_data(sandbox, base_config):
    body = {"links_export_url": [], "events_export_url": [], "clicks_export_url": []}
    sandbox.fault(kind="status", status=200, body=body, path="/v1/export", after=1)
    run = run_tap({**base_config, "start_date": OLD[0], "end_date": OLD[1]}, select=EVENTS)
    assert run.error is None
    assert {r["export_date"][:10] for r in run.records("events")} == {OLD[0]}
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(OLD[1])


# Item 1, Daily Exports v3: an answer that is not lists of URLs (an error object, `{}`) is not an
# empty day, nor is one leaving a topic out (`test_daily_v3`).
@pytest.mark.parametrize(
    ("body", "names"),
    [
        ({"error": {"message": "Export failed", "code": 500}}, ["is an error", "Export failed"]),
        ({}, ["no file lists", "came back: none"]),
    ],
)
def test_v3_answer_that_is_not_lists_fails_naming_the_day(sandbox, base_config, body, names):
    days = [day.isoformat() for day in days_back(3, 2)]
    sandbox.fault(kind="status", status=200, body=body, path="/v3/export", after=1)
    config = {**base_config, "start_date": days[0]}
    run = run_tap(config, select=["daily_eo_click"], expect_error=True)
    assert_loud(run, f"Daily Exports v3 files of {days[1]}", "sandbox-app", *names)
    assert {r["export_date"][:10] for r in run.records("daily_eo_click")} == {days[0]}
    assert bookmark_of(run, "daily_eo_click", {"app_id": "sandbox-app"}).startswith(days[0])


# Item 6: a file answering 400 ("not ready") forever.
def test_file_not_ready_past_the_grace_period_fails_naming_day_and_file(sandbox, base_config):
    failing = _events_file(OLD[1], 0)
    sandbox.fault(kind="status", status=400, path=failing, times=-1)
    run = run_tap({**base_config, "start_date": OLD[0]}, select=EVENTS, expect_error=True)
    assert_loud(run, failing, f"of {OLD[1]}", "empty_day_grace_days", "HTTP 400")
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(OLD[0])


def test_file_not_ready_within_the_grace_period_stops_before_that_day(
    sandbox, daily_config, daily_clean
):
    """Yesterday may really not be published yet: exit 0, bookmark before it, retried next run."""
    sandbox.fault(kind="status", status=400, path=_events_file(D1, 1), times=-1)
    run = run_tap(daily_config, select=EVENTS)
    assert run.error is None and "not ready yet" in run.logs
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(D2)
    before = [r for r in daily_clean.records("events") if r["export_date"].startswith(D2)]
    assert [r for r in run.records("events") if r["export_date"].startswith(D2)] == before
    sandbox.clear_faults()
    rerun = run_tap(daily_config, state=run.state, select=EVENTS)
    assert before + rerun.records("events") == daily_clean.records("events")


@pytest.mark.parametrize(
    ("header", "wait"),
    [("soon", None), ("nan", None), ("inf", None), ("", None), ("12", 12.0), ("-3", 0.0)],
)
def test_retry_after_header_that_is_not_a_wait_gives_none(header, wait):
    """None: the caller's default wait (`BranchStream._rate_limit_waits`)."""
    response = requests.Response()
    response.status_code, response._content = 429, b"{}"
    response.headers["Retry-After"] = header
    assert retry_after_seconds(response) == wait


# --- custom exports (NDJSON .json.gz per job) -----------------------------------------------

SCALE = 3600.0
CLICKS = ["custom_eo_click"]


def _scaled(windows: list[tuple[int, float]]) -> list[dict]:
    return [{"limit": limit, "seconds": seconds / SCALE} for limit, seconds in windows]


@pytest.fixture
def custom_sandbox() -> t.Iterator[SandboxControl]:
    running = start_sandbox(time_scale=SCALE)
    try:
        control = SandboxControl(running)
        control.options(custom_rows_per_file=40)
        yield control
    finally:
        running.stop()


@pytest.fixture
def custom_config(custom_sandbox) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=1)).isoformat(),
        "access_token": "api_app_sandbox",
        "app_id": "sandbox-app",
        "api_url": custom_sandbox.url,
        "api2_url": custom_sandbox.url,
        "backoff_factor": 0.05,
        "max_retries": 2,
        "custom_exports_poll_seconds": 0.01,
        "custom_exports_create_limits": _scaled([(10, 60), (25, 3600)]),
        "custom_exports_status_limits": _scaled([(50, 60), (1000, 3600)]),
        "custom_exports_days_limits": _scaled([(100, 3600)]),
    }


def assert_custom_loud(run: TapRun, *names: str) -> str:
    """Loud, naming a custom export file; the window is not bookmarked."""
    message = assert_loud(run, "/files/custom/", ".json.gz", *names)
    assert bookmark_of(run, "custom_eo_click", {"app_id": "sandbox-app"}) is None
    return message


# Item 3: an NDJSON file whose body is one JSON string, list or object.
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("json_string", "line 1 is a JSON string, not an object"),
        ("json_array", "line 1 is a JSON list, not an object"),
        ("json_object", "line 1 has no 'id' field"),
        ("html", "text/html"),
    ],
)
def test_custom_export_file_with_a_wrong_body_fails_naming_it(
    custom_sandbox, custom_config, body, reason
):
    custom_sandbox.fault(kind="wrong_body", path="/files/custom/", body=body, times=-1)
    run = run_tap(custom_config, select=CLICKS, expect_error=True)
    assert_custom_loud(run, reason)
    assert run.records("custom_eo_click") == []


# Item 7: a malformed NDJSON line fails naming file and line (a row that does not parse has no
# key to be stored under; keeping it as `unparsed_cells` would write a row with a null key).
def test_custom_export_malformed_line_fails_naming_file_and_line(custom_sandbox, custom_config):
    custom_sandbox.fault(kind="corrupt_line", path="/files/custom/", line=3, times=-1)
    run = run_tap(custom_config, select=CLICKS, expect_error=True)
    assert_custom_loud(run, "line 3 is not valid JSON")


def test_custom_export_malformed_line_once_recovers(custom_sandbox, custom_config):
    clean = run_tap(custom_config, select=CLICKS)
    assert clean.records("custom_eo_click")
    custom_sandbox.fault(kind="corrupt_line", path="/files/custom/", line=3)
    run = run_tap(custom_config, select=CLICKS)
    assert run.error is None
    assert run.records("custom_eo_click") == clean.records("custom_eo_click")
    assert "line 3 is not valid JSON" in run.logs


# --- scheduled exports (json.gz files of a job) ---------------------------------------------

SCHEDULED = ["scheduled_export_jobs", "scheduled_export_rows"]


# Item 7: a json.gz file whose body is a JSON array or a string.
@pytest.mark.parametrize(
    ("body", "reason"),
    [("json_array", "line 1 is a JSON list"), ("json_string", "line 1 is a JSON string")],
)
def test_scheduled_json_file_that_is_not_lines_of_objects_fails_naming_it(
    sandbox, base_config, body, reason
):
    day = days_back(2)[0].isoformat()
    failing = f"/files/scheduled/sandbox-app/sandbox-sub-2/{day}/"
    sandbox.fault(kind="wrong_body", path=failing, body=body, times=-1)
    run = run_tap({**base_config, "max_retries": 2}, select=SCHEDULED, expect_error=True)
    assert_loud(run, failing, reason)
    bookmark = bookmark_of(run, "scheduled_export_jobs", {"subscription_id": "sandbox-sub-2"})
    assert bookmark is None or bookmark < day


# Item 2: a job whose files answer 403 however often their URLs are renewed.
def _job_files(sandbox: SandboxControl, subscription: str, days_ago: int) -> str:
    from tap_branch_sandbox.scheduled_exports import job_id_for

    return job_id_for(sandbox.sandbox, subscription, utc_today() - dt.timedelta(days=days_ago))


def test_scheduled_job_403_inside_retention_fails_and_keeps_the_bookmark(sandbox, base_config):
    job = _job_files(sandbox, "sandbox-sub-1", 3)
    sandbox.fault(kind="expire", path=f"/{job}/", times=-1)
    config = {**base_config, "start_date": days_back(5)[0].isoformat()}
    run = run_tap(config, select=SCHEDULED, expect_error=True)
    assert_loud(run, f"job {job}", "sandbox-sub-1", "403", "inside Branch's retention")
    # Jobs before it are bookmarked; it and the later ones are not.
    bookmark = bookmark_of(run, "scheduled_export_jobs", {"subscription_id": "sandbox-sub-1"})
    assert bookmark < days_back(3)[0].isoformat()
    assert job not in {r["job_id"] for r in run.records("scheduled_export_rows")}
    # Accepting the job does not pass it while Branch still holds its files.
    accepted = run_tap(
        {**config, "scheduled_export_accepted_mismatches": [job]},
        select=SCHEDULED,
        expect_error=True,
    )
    assert_loud(accepted, f"job {job}")


def test_scheduled_job_past_retention_fails_naming_it_until_accepted(sandbox, base_config):
    """Bookmarked before them (a first run skips them with a warning instead: test_scheduled_exports)."""
    config = {
        **base_config,
        "start_date": days_back(9)[0].isoformat(),
        "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}],
    }
    held = f"{days_back(10)[0].isoformat()}T23:59:59+00:00"  # a job before start_date
    context = {"subscription_id": "sandbox-sub-1"}
    state = {
        "bookmarks": {
            "scheduled_export_jobs": {
                "partitions": [{"context": context, "replication_key_value": held}]
            }
        }
    }
    gone = [_job_files(sandbox, "sandbox-sub-1", n) for n in (9, 8)]  # retention: 7 days
    run = run_tap(config, state=state, select=SCHEDULED, expect_error=True)
    assert_loud(
        run, f"job {gone[0]}", "past Branch's retention", "scheduled_export_accepted_mismatches"
    )
    assert bookmark_of(run, "scheduled_export_jobs", context) == held
    assert run.records("scheduled_export_rows") == []

    accepted = run_tap(
        {**config, "scheduled_export_accepted_mismatches": gone}, state=state, select=SCHEDULED
    )
    assert accepted.error is None
    assert "accepted by 'scheduled_export_accepted_mismatches'" in accepted.logs
    read = {r["job_id"] for r in accepted.records("scheduled_export_rows")}
    assert not set(gone) & read
    assert _job_files(sandbox, "sandbox-sub-1", 7) in read  # inside retention: read
    bookmark = bookmark_of(accepted, "scheduled_export_jobs", {"subscription_id": "sandbox-sub-1"})
    assert bookmark.startswith(days_back(2)[0].isoformat())  # yesterday's job is RUNNING


# --- state ----------------------------------------------------------------------------------

# Item 7: a corrupt --state names the stream and the key.
CORRUPT_STATES = {
    "bookmarks a list": ({"bookmarks": []}, ["'bookmarks'"]),
    "stream state a list": ({"bookmarks": {"events": []}}, ["stream 'events'"]),
    "partitions an object": (
        {"bookmarks": {"events": {"partitions": {"app_id": "sandbox-app"}}}},
        ["'partitions'", "stream 'events'"],
    ),
    "partition without context": (
        {"bookmarks": {"links": {"partitions": [{"replication_key_value": "2024-01-01"}]}}},
        ["'context'", "stream 'links'"],
    ),
    "bookmark not a date": (
        {
            "bookmarks": {
                "events": {
                    "partitions": [
                        {"context": {"app_id": "sandbox-app"}, "replication_key_value": "soon"}
                    ]
                }
            }
        },
        ["'replication_key_value'", "stream 'events'", "sandbox-app", '"soon"'],
    ),
    "credit bookmark not an id": (
        {
            "bookmarks": {
                "credit_history": {
                    "partitions": [
                        {
                            "context": {"app_id": "sandbox-app", "identity": "u1"},
                            "replication_key_value": {"id": 5},
                        }
                    ]
                }
            }
        },
        ["'replication_key_value'", "stream 'credit_history'", "an integer"],
    ),
    "v3 progress a string": (
        {
            "bookmarks": {
                "daily_eo_click": {
                    "partitions": [{"context": {"app_id": "a"}, "day_in_progress": "2024-01-01"}]
                }
            }
        },
        ["'day_in_progress'", "stream 'daily_eo_click'", "is not of type 'object'"],
    ),
    "scheduled progress count not a number": (
        {
            "bookmarks": {
                "scheduled_export_rows": {
                    "partitions": [
                        {
                            "context": {"subscription_id": "s"},
                            "progress": {"job_id": "j", "files_done": "one", "rows_done": 5},
                        }
                    ]
                }
            }
        },
        ["'progress'['files_done']", "stream 'scheduled_export_rows'"],
    ),
    "custom window without its job": (
        {
            "bookmarks": {
                "custom_eo_click": {
                    "partitions": [
                        {
                            "context": {"app_id": "a"},
                            "window_in_progress": {"start": "2024-01-01", "end": "2024-01-02"},
                        }
                    ]
                }
            }
        },
        ["'window_in_progress'", "stream 'custom_eo_click'", "'handle' is a required property"],
    ),
}


@pytest.mark.parametrize("case", list(CORRUPT_STATES))
def test_corrupt_state_fails_naming_stream_and_key(sandbox, base_config, case):
    state, names = CORRUPT_STATES[case]
    with pytest.raises(InvalidStateError) as raised:
        run_tap(base_config, state=state, select=EVENTS)
    for name in names:
        assert name in str(raised.value)
    assert sandbox.requests_log() == []  # nothing was asked of Branch


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            json.dumps({"bookmarks": {"events": {"partitions": "all"}}}),
            "'partitions' of stream 'events' should be a list",
        ),
        ('{"bookmarks": {"events": ', "state.json is not JSON"),  # cut short
    ],
)
def test_corrupt_state_file_on_the_command_line(tmp_path, base_config, text, named):
    config, state = tmp_path / "config.json", tmp_path / "state.json"
    config.write_text(json.dumps(base_config))
    state.write_text(text)
    done = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", str(config), "--state", str(state)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert named in done.stderr
    assert done.stdout == ""


# --- HTTP 408: retried like a 5xx ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/v1/export", _events_file(D1, 1)])
def test_408_request_timeout_is_retried_like_a_5xx(sandbox, daily_config, daily_clean, path):
    """A proxy or load balancer that gave up waiting answers 408: transient, not a refusal."""
    sandbox.fault(kind="status", status=408, path=path)
    run = run_tap(daily_config, select=EVENTS)
    assert_recovered(run, daily_clean, EVENTS)
    assert [r for r in sandbox.requests_log() if r["status"] == 408]


def test_408_that_lasts_fails_naming_the_request(sandbox, daily_config):
    sandbox.fault(kind="status", status=408, path="/v1/export", times=-1)
    run = run_tap(daily_config, select=EVENTS, expect_error=True)
    assert_loud(run, "408")
    assert len([r for r in sandbox.requests_log() if r["status"] == 408]) == 2  # max_retries


# --- state: future bookmarks, a state without "bookmarks", FULL_TABLE states --------------

_LATER = (utc_today() + dt.timedelta(days=6)).isoformat()


def _partition_state(stream: str, context: dict, **entries: t.Any) -> dict:
    return {"bookmarks": {stream: {"partitions": [{"context": context, **entries}]}}}


FUTURE_STATES = {
    "daily bookmark": (
        _partition_state(
            "events",
            {"app_id": "sandbox-app"},
            replication_key="export_date",
            replication_key_value=f"{_LATER}T00:00:00+00:00",
        ),
        ["'replication_key_value'", "stream 'events'", "sandbox-app", _LATER],
    ),
    "cohort bookmark": (
        _partition_state(
            "cohort_installs_by_campaign",
            {"app_id": "sandbox-app"},
            replication_key="cohort_date",
            replication_key_value="2099-01-01",
        ),
        ["stream 'cohort_installs_by_campaign'", "2099-01-01"],
    ),
    "scheduled bookmark": (
        _partition_state(
            "scheduled_export_jobs",
            {"subscription_id": "sandbox-sub-1"},
            replication_key="end_date",
            replication_key_value="2099-06-01T00:00:00Z",
        ),
        ["stream 'scheduled_export_jobs'", "sandbox-sub-1", "2099-06-01"],
    ),
    "custom exports window end": (
        _partition_state(
            "custom_eo_click",
            {"app_id": "sandbox-app"},
            window_in_progress={
                "start": "2026-03-09T00:00:00+00:00",
                "end": "2100-01-01T00:00:00+00:00",
                "handle": "h1",
            },
        ),
        ["'window_in_progress'['end']", "stream 'custom_eo_click'", "2100-01-01"],
    ),
    "v3 day in progress": (
        _partition_state(
            "daily_eo_click",
            {"app_id": "sandbox-app"},
            day_in_progress={"day": f"{_LATER}T00:00:00+00:00", "files_done": []},
        ),
        ["'day_in_progress'['day']", "stream 'daily_eo_click'", _LATER],
    ),
}


@pytest.mark.parametrize("case", list(FUTURE_STATES))
def test_a_bookmark_later_than_now_is_refused(sandbox, base_config, case):
    """Taken as is, a future bookmark would mark the days up to it read: exit 0, never read."""
    state, names = FUTURE_STATES[case]
    with pytest.raises(InvalidStateError, match="later than now") as raised:
        run_tap(base_config, state=state, select=EVENTS)
    for name in names:
        assert name in str(raised.value)
    assert sandbox.requests_log() == []


def test_a_cohort_day_already_begun_east_of_utc_is_not_the_future(sandbox, base_config):
    """Cohort dates are the dashboard's days: tomorrow (UTC) has begun in UTC+14 at NOW."""
    tomorrow = (utc_today() + dt.timedelta(days=1)).isoformat()
    state = _partition_state(
        "cohort_installs_by_campaign",
        {"app_id": "sandbox-app"},
        replication_key="cohort_date",
        replication_key_value=tomorrow,
    )
    run = run_tap(base_config, state=state, select=[], expect_error=True)
    assert run.error is None


def test_the_states_of_a_run_are_never_in_the_future(sandbox, base_config):
    """What the families write, read back at once, passes the check."""
    families = ["events", "daily_eo_click", "scheduled_export_rows", "cohort_installs_by_campaign"]
    first = run_tap(base_config, select=families)
    assert first.error is None and first.state["bookmarks"]
    again = run_tap(base_config, state=first.state, select=families)
    assert again.error is None


@pytest.mark.parametrize(
    ("state", "named"),
    [
        ({"type": "STATE", "value": {"bookmarks": {}}}, "'type', 'value'"),
        ({"singer_state": {"bookmarks": {}}}, "'singer_state'"),
        ({"bookmark": {"events": {}}}, "'bookmark'"),
    ],
)
def test_a_state_without_bookmarks_is_refused(sandbox, base_config, state, named):
    """Read as "no state", every stream would start over from start_date without a word."""
    with pytest.raises(InvalidStateError, match="has no 'bookmarks'") as raised:
        run_tap(base_config, state=state, select=EVENTS)
    assert named in str(raised.value)
    assert sandbox.requests_log() == []


def test_an_empty_state_is_no_state(sandbox, base_config):
    run = run_tap(base_config, state={}, select=["links"])
    assert run.error is None and run.records("links")


def _full_table_catalog(base_config: dict, stream: str) -> dict:
    """The discovered catalog with `stream` alone selected and forced to FULL_TABLE, its
    replication key removed (Meltano's `metadata: {stream: {replication-method: FULL_TABLE}}`)."""
    from tap_branch.tap import TapBranch

    catalog = TapBranch(config=base_config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        entry.pop("replication_key", None)
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == stream
                if entry["tap_stream_id"] == stream:
                    entry["replication_method"] = "FULL_TABLE"
                    metadata["metadata"]["forced-replication-method"] = "FULL_TABLE"
                    metadata["metadata"].pop("replication-key", None)
    return catalog


def test_a_full_table_catalog_writes_a_state_the_next_run_reads(sandbox, base_config):
    catalog = _full_table_catalog(base_config, "links")
    first = run_tap(base_config, catalog=catalog)
    assert first.error is None and first.records("links")
    partitions = first.state["bookmarks"]["links"]["partitions"]
    assert all(p.get("replication_key", "links has none") is not None for p in partitions)
    again = run_tap(base_config, catalog=catalog, state=first.state)
    assert again.error is None
    # What earlier versions wrote, a null replication_key, is read too.
    for partition in partitions:
        partition["replication_key"] = None
    assert run_tap(base_config, catalog=catalog, state=first.state).error is None


def test_a_bad_replication_key_is_named_without_garbling(sandbox, base_config):
    state = _partition_state("links", {"app_id": "sandbox-app"}, replication_key=5)
    with pytest.raises(InvalidStateError) as raised:
        run_tap(base_config, state=state, select=["links"])
    assert "should be a column name, but is a number 5." in str(raised.value)


# A day's answer that carries signed URLs beside an error, or in a shape that is not an object:
# the error quotes Branch's words or the body, and never a signed URL's query (a signature
# under a parameter name `redact` does not know would survive it).
SIGNED = [
    "https://exports.example.com/events-0.csv.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=AKIAQUERYCRED%2F20260308&X-Amz-Date=20260308T000000Z"
    "&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=feedfacequerysig",
    "https://exports.example.com/events-1.csv.gz?se=2026-03-09&sp=r&skoid=opaquequerytoken",
]
SIGNED_ANSWERS = {
    "error text beside signed lists": {
        "error": "Export failed",
        "links_export_url": [],
        "events_export_url": SIGNED,
        "clicks_export_url": [],
    },
    "error without message beside signed lists": {
        "error": {"code": 500},
        "links_export_url": [],
        "events_export_url": SIGNED,
        "clicks_export_url": [],
    },
    "error message quoting a signed URL": {
        "error": {"message": f"could not sign {SIGNED[1]}", "code": 500},
        "events_export_url": SIGNED,
    },
    "a list of signed URLs": SIGNED,
}


@pytest.mark.parametrize("case", list(SIGNED_ANSWERS))
def test_daily_answer_with_signed_urls_fails_without_their_queries(sandbox, base_config, case):
    sandbox.fault(kind="status", status=200, body=SIGNED_ANSWERS[case], path="/v1/export", after=1)
    run = run_tap({**base_config, "start_date": OLD[0]}, select=EVENTS, expect_error=True)
    message = assert_loud(run, f"daily export files of {OLD[1]}", "sandbox-app")
    for secret in ("X-Amz", "QUERYCRED", "querysig", "skoid", "opaquequerytoken", "se=2026"):
        assert secret not in message, message
    assert bookmark_of(run, "events", {"app_id": "sandbox-app"}).startswith(OLD[0])
