"""No duplicates where nothing went wrong: a file listed twice, a run stopped between two
scheduled export jobs, an answer whose JSON repeats a key."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.sandbox import days_back
from tests.support.tap_runner import TapRun, run_tap

JOBS, ROWS = "scheduled_export_jobs", "scheduled_export_rows"


def _row_keys(rows: list[dict]) -> list[tuple]:
    return [(r["subscription_id"], r["job_id"], r["file_index"], r["row_number"]) for r in rows]


# --- a run stopped anywhere resumes without sending a row its state covers ----------------


def test_a_run_stopped_between_scheduled_jobs_does_not_send_a_finished_job_again(
    sandbox, base_config
):
    """Each STATE message is a point where a run may be killed: the target has kept it and every
    row before it. The run resumed from it must send each other row once, and none of those."""
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    full = run_tap(config, select=[JOBS, ROWS])
    every_row = _row_keys(full.records(ROWS))
    assert len({key[1] for key in every_row}) >= 2 and len(every_row) == len(set(every_row))

    states = [i for i, m in enumerate(full.messages) if m["type"] == "STATE"]
    stops_between_jobs = 0
    for stop in states:
        kept = full.messages[:stop]
        sent = _row_keys(
            [m["record"] for m in kept if m["type"] == "RECORD" and m["stream"] == ROWS]
        )
        state = full.messages[stop]["value"]
        resumed = run_tap(config, state=state, select=[JOBS, ROWS])
        again = _row_keys(resumed.records(ROWS))
        assert not set(again) & set(sent), (
            f"stopped at STATE #{states.index(stop)} ({state}): rows sent before it were sent again"
        )
        assert sorted(sent + again) == sorted(every_row), "rows lost across the stop"
        of_job, sent_of_job = Counter(key[1] for key in every_row), Counter(key[1] for key in sent)
        if sent_of_job and len(sent_of_job) < len(of_job):
            stops_between_jobs += all(sent_of_job[job] == of_job[job] for job in sent_of_job)
    assert stops_between_jobs >= 1  # the stops this test is about were among them


# --- a file listed twice in a day's answer -------------------------------------------------

FAMILIES = {
    "v1": ("events", {"daily_repeated_files": ["events"]}, {"daily_rows": {"events": 60}}),
    "v3": ("daily_eo_click", {"v3_repeated_files": ["eo_click"]}, {"v3_rows": {"eo_click": 60}}),
}


@pytest.mark.parametrize("family", FAMILIES)
def test_a_file_listed_twice_in_a_days_answer_sends_its_rows_once(sandbox, base_config, family):
    stream, repeated, volume = FAMILIES[family]
    sandbox.options(**volume, daily_rows_per_file=25, v3_rows_per_file=25)
    config = {**base_config, "start_date": days_back(2)[0].isoformat()}
    clean = run_tap(config, select=[stream])
    sandbox.options(**repeated)
    run = run_tap(config, select=[stream])
    assert run.error is None
    assert run.records(stream) == clean.records(stream) != []
    assert run.state == clean.state
    day = days_back(1)[0].isoformat()
    warnings = [line for line in run.logs.splitlines() if "lists file" in line and "twice" in line]
    assert len(warnings) == 2 and day in warnings[-1]  # one per day, naming it
    assert "?" not in warnings[-1] and "X-Amz" not in warnings[-1]


# --- an answer whose JSON repeats a key --------------------------------------------------

ANSWERS = {
    "v1": ("events", {"daily_repeated_key": "events"}, "events_export_url", "daily export files"),
    "v3": ("daily_eo_click", {"v3_repeated_key": "eo_click"}, "eo_click", "Daily Exports v3 files"),
}


@pytest.mark.parametrize("family", ANSWERS)
def test_a_days_answer_that_repeats_a_key_fails_before_its_bookmark(sandbox, base_config, family):
    stream, option, key, asked = ANSWERS[family]
    config = {**base_config, "start_date": days_back(2)[0].isoformat()}
    first_day = days_back(2)[0].isoformat()
    clean = run_tap(config, select=[stream])
    assert clean.records(stream)
    sandbox.options(**option)  # every answer from now on: the list, then the key again with []
    run: TapRun = run_tap(config, select=[stream], expect_error=True)
    assert run.error is not None
    message = str(run.error)
    assert f"{asked} of {first_day}" in message
    assert f"repeats the key '{key}'" in message
    assert run.records(stream) == []
    bookmarks = run.state.get("bookmarks", {}).get(stream, {}).get("partitions", [])
    assert all("replication_key_value" not in partition for partition in bookmarks)


def test_every_json_answer_refuses_a_key_repeated_at_any_depth():
    """`json_answer` reads every family's answers: a repeat inside a nested object counts too."""
    import requests
    from singer_sdk.exceptions import FatalAPIError

    from tap_branch.errors import json_answer

    response = requests.Response()
    response.status_code = 200
    response.url = "https://api2.branch.io/scheduled-exports/logs/subscriptions/s1/jobs"
    response._content = b'{"jobs": [{"job_id": "j1", "lines_exported": 5, "lines_exported": 0}]}'
    with pytest.raises(FatalAPIError, match=r"the jobs of s1 repeats the key 'lines_exported'"):
        json_answer(response, "the jobs of s1")
    response._content = b'{"jobs": [{"job_id": "j1", "lines_exported": 5}]}'
    assert json_answer(response, "the jobs of s1") == {
        "jobs": [{"job_id": "j1", "lines_exported": 5}]
    }


def test_only_a_signature_makes_two_listed_urls_one_file(base_config):
    """Files are compared apart from their signer's parameters, not apart from their whole
    query: `?part=2` may name another file, and dropping it would lose its rows with a mere
    warning, where reading a file twice at worst repeats rows a target can merge by key."""
    import datetime as dt

    from tap_branch.config.apps import BranchApp
    from tap_branch.tap import TapBranch

    stream = TapBranch(config=base_config, parse_env_config=False).streams["events"]
    file = "https://exports.example/sandbox-app/2026-03-09/events-0.csv.gz"
    sigv4 = "?X-Amz-Date=20260310T000000Z&X-Amz-Expires=3600&X-Amz-Signature="
    listed = [
        f"{file}{sigv4}aa",
        f"{file}{sigv4}bb",  # the same file signed again
        f"{file}?Expires=1&Signature=cc&Key-Pair-Id=K",  # and signed by CloudFront
        f"{file}?part=2&X-Amz-Signature=dd",  # another file
    ]
    app = BranchApp("sandbox-app", "key_live_sandbox")
    kept = stream._each_file_once({"events": listed}, app, dt.date(2026, 3, 9))
    assert kept == {"events": [listed[0], listed[3]]}


def test_a_key_repeated_with_the_same_value_is_no_doubt():
    """Only a key whose values differ leaves in doubt which one Branch meant."""
    import requests

    from tap_branch.errors import json_answer

    response = requests.Response()
    response.status_code = 200
    response.url = "https://api2.branch.io/scheduled-exports/logs/subscriptions/s1/jobs"
    response._content = b'{"jobs": [{"job_id": "j1", "job_id": "j1", "lines_exported": 5}]}'
    assert json_answer(response, "the jobs of s1") == {
        "jobs": [{"job_id": "j1", "lines_exported": 5}]
    }
