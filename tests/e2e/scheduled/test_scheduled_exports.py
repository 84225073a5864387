"""Scheduled export jobs and their files, end to end against the sandbox."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from tap_branch import clock
from tap_branch_sandbox.scheduled_exports import job_id_for
from tests.support.sandbox import NOW, utc_today
from tests.support.tap_runner import run_tap

JOBS, ROWS = "scheduled_export_jobs", "scheduled_export_rows"
BOTH = [JOBS, ROWS]


def days_ago(n: int) -> dt.date:
    return utc_today() - dt.timedelta(days=n)


def bookmark(run, subscription_id: str) -> dict:
    partitions = run.state["bookmarks"][JOBS]["partitions"]
    return next(p for p in partitions if p["context"] == {"subscription_id": subscription_id})


def tap_logs(run) -> str:
    """The tap's own log lines (the in-process sandbox's access log prints the URLs it serves)."""
    return "\n".join(line for line in run.logs.splitlines() if " werkzeug " not in line)


def row_keys(rows: list[dict]) -> list[tuple]:
    return [(r["subscription_id"], r["job_id"], r["file_index"], r["row_number"]) for r in rows]


def test_lists_subscriptions_and_reads_every_finished_job(sandbox, base_config):
    run = run_tap(base_config, select=BOTH)
    jobs = run.records(JOBS)
    statuses = collections.defaultdict(list)
    for job in jobs:
        statuses[job["subscription_id"]].append(job["status"])
    # The cloud-delivered and the INACTIVE subscriptions are listed by Branch but skipped.
    assert statuses == {
        "sandbox-sub-1": ["SUCCEEDED", "SUCCEEDED", "RUNNING"],
        "sandbox-sub-2": ["SUCCEEDED", "SUCCEEDED", "SUCCEEDED", "PENDING_GENERATION"],
    }
    assert "sandbox-sub-cloud" in run.logs and "sandbox-sub-paused" in run.logs

    rows = run.records(ROWS)
    by_job = collections.Counter(r["job_id"] for r in rows)
    for job in jobs:
        assert all("?" not in url and "X-Amz" not in url for url in job["export_url"])
        assert job["file_count"] == len(job["export_url"])
        if job["status"] == "SUCCEEDED":
            assert by_job[job["job_id"]] == job["lines_exported"] > 0
            assert job["file_count"] == (3 if job["subscription_id"] == "sandbox-sub-1" else 2)
        else:
            assert by_job[job["job_id"]] == 0
    assert len(set(row_keys(rows))) == len(rows)

    # The bookmark holds before each subscription's first unfinished job.
    assert bookmark(run, "sandbox-sub-1")["replication_key_value"].startswith(
        days_ago(2).isoformat()
    )
    assert bookmark(run, "sandbox-sub-2")["replication_key_value"].startswith(
        days_ago(1).isoformat()
    )

    # Known ontology columns are typed, unknown ones kept as text in extra_columns.
    csv_rows = [r for r in rows if r["subscription_id"] == "sandbox-sub-1"]
    first = csv_rows[0]
    assert dt.datetime.fromisoformat(first["timestamp"]).tzinfo is not None
    assert isinstance(first["timestamp_ms"], int)
    assert isinstance(first["attributed"], bool)
    assert isinstance(first["custom_data"], dict)
    assert isinstance(first["last_attributed_touch_data_tilde_tags"], list)
    # The sandbox leaves some cells empty (null); every filled one is typed, on any day.
    days = [r["days_from_last_attributed_touch_to_event"] for r in csv_rows]
    filled = [d for d in days if d is not None]
    assert filled and all(isinstance(d, int) for d in filled)
    assert "event_timestamp" not in first  # ontology columns the file lacks are left out
    assert {r["extra_columns"]["x_sandbox_segment"] for r in csv_rows if "extra_columns" in r} == {
        "alpha",
        "beta",
    }
    assert all("unparsed_cells" not in r for r in rows)
    json_row = next(
        r for r in rows if r["subscription_id"] == "sandbox-sub-2" and r.get("content_items")
    )
    assert isinstance(json_row["event_data_revenue"], float)
    assert isinstance(json_row["content_items"], list)
    assert isinstance(json_row["timestamp_ms"], int)
    assert [r["row_number"] for r in csv_rows if r["file_index"] == 0][:3] == [1, 2, 3]

    # No secret and no signature anywhere: records, state, the tap's logs.
    for text in (run.raw_output, tap_logs(run)):
        assert "api_app_sandbox" not in text
        assert "X-Amz-Signature" not in text and "X-Amz-Credential" not in text


def test_next_runs_read_only_jobs_finished_since(sandbox, base_config):
    first = run_tap(base_config, select=[ROWS])
    assert first.records(JOBS) == []  # the parent is synced for its children, not emitted
    seen = {r["job_id"] for r in first.records(ROWS)}
    assert len(seen) == 5

    again = run_tap(base_config, state=first.state, select=[ROWS])
    assert again.records(ROWS) == []

    sandbox.advance_days(1)  # yesterday's RUNNING job and today's pending one are done now
    later = run_tap(base_config, state=again.state, select=[ROWS])
    new_jobs = {r["job_id"] for r in later.records(ROWS)}
    assert new_jobs == {
        job_id_for(sandbox.sandbox, "sandbox-sub-1", days_ago(1)),
        job_id_for(sandbox.sandbox, "sandbox-sub-2", days_ago(0)),
    }
    assert not new_jobs & seen


def test_jobs_are_listed_by_post_with_get_fallback_on_405(sandbox, base_config):
    sandbox.options(scheduled_jobs_post=False)
    run = run_tap(base_config, select=BOTH)
    calls = [
        (e["method"], e["status"]) for e in sandbox.requests_log() if e["path"].endswith("/jobs")
    ]
    assert calls == [("POST", 405), ("GET", 200), ("GET", 200)]  # POST is not tried again
    assert len(run.records(JOBS)) == 7


def test_configured_subscriptions_replace_the_listing(sandbox, base_config):
    config = {
        **base_config,
        "scheduled_exports": [{"subscription_id": "sandbox-sub-2", "name": "commerce"}],
    }
    run = run_tap(config, select=BOTH)
    assert {(j["subscription_id"], j["subscription_name"]) for j in run.records(JOBS)} == {
        ("sandbox-sub-2", "commerce")
    }
    assert not any(e["path"].endswith("/subscriptions") for e in sandbox.requests_log())


def test_unknown_subscription_fails_naming_the_setting(sandbox, base_config):
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-404"}]}
    run = run_tap(config, select=BOTH, expect_error=True)
    message = str(run.error)
    assert "scheduled_exports" in message and "sandbox-sub-404" in message
    assert "Invalid subscription_id" in message  # Branch's own 400 message
    assert "api_app_sandbox" not in message


def test_line_count_mismatch_fails_the_job_and_keeps_its_bookmark(sandbox, base_config):
    bad_day = days_ago(2)
    sandbox.options(scheduled_line_mismatch=[f"sandbox-sub-1/{bad_day.isoformat()}"])
    bad_job = job_id_for(sandbox.sandbox, "sandbox-sub-1", bad_day)
    run = run_tap(base_config, select=BOTH, expect_error=True)
    assert (
        run.error is not None and bad_job in str(run.error) and "lines_exported" in str(run.error)
    )
    assert "ERROR" in run.logs and "scheduled_export_accepted_mismatches" in run.logs
    # sub-1 stays before the bad job; sub-2, synced after it, still completed.
    assert bookmark(run, "sandbox-sub-1")["replication_key_value"].startswith(
        days_ago(3).isoformat()
    )
    assert bookmark(run, "sandbox-sub-2")["replication_key_value"].startswith(
        days_ago(1).isoformat()
    )

    retry = run_tap(base_config, state=run.state, select=BOTH, expect_error=True)
    assert retry.error is not None  # the next run reads it again and fails again
    assert {r["job_id"] for r in retry.records(ROWS)} == {bad_job}

    accepted = {**base_config, "scheduled_export_accepted_mismatches": [bad_job]}
    done = run_tap(accepted, state=retry.state, select=BOTH)
    assert "mismatch accepted" in done.logs
    assert bookmark(done, "sandbox-sub-1")["replication_key_value"].startswith(bad_day.isoformat())


def test_expired_signed_url_is_refreshed_from_the_job(sandbox, base_config):
    sandbox.fault(kind="expire", path="/files/scheduled/sandbox-app/sandbox-sub-1/", times=1)
    run = run_tap(base_config, select=BOTH)
    jobs = {j["job_id"]: j for j in run.records(JOBS) if j["status"] == "SUCCEEDED"}
    rows = run.records(ROWS)
    counts = collections.Counter(r["job_id"] for r in rows)
    assert {job_id: counts[job_id] for job_id in jobs} == {
        job_id: job["lines_exported"] for job_id, job in jobs.items()
    }
    assert len(set(row_keys(rows))) == len(rows)
    refreshed = [e for e in sandbox.requests_log() if "/job/" in e["path"]]
    assert len(refreshed) == 1 and refreshed[0]["status"] == 200
    assert [e["status"] for e in sandbox.requests_log() if e["path"].startswith("/files/")].count(
        403
    ) == 1


def test_run_stopped_after_file_1_of_3_resumes_without_loss_or_duplicates(sandbox, base_config):
    config = {
        **base_config,
        "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}],
        "max_retries": 2,
    }
    job = job_id_for(sandbox.sandbox, "sandbox-sub-1", days_ago(3))
    sandbox.fault(kind="status", status=503, path=f"/{job}/part-0001", times=-1)
    stopped = run_tap(config, select=BOTH, expect_error=True)
    assert stopped.error is not None
    first_rows = stopped.records(ROWS)
    assert {r["file_index"] for r in first_rows} == {0}
    progress = stopped.state["bookmarks"][ROWS]["partitions"][0]["progress"]
    assert progress == {"job_id": job, "files_done": 1, "rows_done": len(first_rows)}

    sandbox.clear_faults()
    resumed = run_tap(config, state=stopped.state, select=BOTH)
    lines = next(j["lines_exported"] for j in resumed.records(JOBS) if j["job_id"] == job)
    of_job = first_rows + [r for r in resumed.records(ROWS) if r["job_id"] == job]
    assert {r["file_index"] for r in of_job[len(first_rows) :]} == {1, 2}
    assert len(of_job) == len(set(row_keys(of_job))) == lines
    assert len({r["id"] for r in of_job}) == lines
    assert "Resuming job" in resumed.logs
    assert "progress" not in resumed.state["bookmarks"][ROWS]["partitions"][0]


def test_parquet_files_are_read_with_the_extra(sandbox, base_config):
    sandbox.options(scheduled_formats={"sandbox-sub-1": "parquet"})
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    run = run_tap(config, select=BOTH)
    rows = run.records(ROWS)
    jobs = [j for j in run.records(JOBS) if j["status"] == "SUCCEEDED"]
    assert len(rows) == sum(j["lines_exported"] for j in jobs) > 0
    assert all(url.endswith(".parquet") for j in jobs for url in j["export_url"])
    assert isinstance(rows[0]["timestamp_ms"], int) and isinstance(rows[0]["custom_data"], dict)
    assert isinstance(rows[0]["attributed"], bool)


def test_file_format_follows_the_file_name_then_the_subscription():
    from tap_branch.streams.scheduled.files import UnsupportedFileError, file_format

    where = "file 1 of job x"
    assert (
        file_format("https://s3/x/part-0.csv.gz?X-Amz-Signature=s", None, None, where=where)
        == "csv"
    )
    assert file_format("https://s3/x/part-0.json.gz", "csv", "gz", where=where) == "json"
    assert (
        file_format("https://s3/x/part-0.snappy.parquet", None, "snappy", where=where) == "parquet"
    )
    assert file_format("https://s3/x/part-0", "json", "gz", where=where) == "json"
    with pytest.raises(UnsupportedFileError, match="response_format_compression to gz"):
        file_format("https://s3/x/part-0.csv.snappy", "csv", "snappy", where=where)


def test_a_jobs_repr_carries_no_signed_url():
    """A job (or the run holding it) printed in a traceback or a debug line shows no signature."""
    from tap_branch.streams.scheduled.api import parse_job
    from tap_branch.streams.scheduled.streams import ScheduledRun

    signed = "https://s3/x/part-0.csv.gz?X-Amz-Credential=AKIA/x&X-Amz-Signature=deadbeef"
    job = parse_job(
        {
            "job_id": "j-1",
            "status": "SUCCEEDED",
            "end_date": "2024-05-01T00:00:00Z",
            "export_url": [signed],
        },
        "sub-1",
    )
    run = ScheduledRun(live={("sub-1", "j-1"): job})
    for text in (repr(job), str(job), repr(run)):
        assert "j-1" in text and "X-Amz-Signature" not in text and "deadbeef" not in text
    assert job.urls == [signed]


# --- jobs whose rows are not there: an error naming them, unless accepted ------------------


def test_a_failed_job_fails_naming_it_and_holds_its_subscription_until_accepted(
    sandbox, base_config
):
    failed_day = days_ago(3)
    sandbox.options(scheduled_statuses={f"sandbox-sub-2/{failed_day.isoformat()}": "FAILED"})
    failed = job_id_for(sandbox.sandbox, "sandbox-sub-2", failed_day)
    run = run_tap(base_config, select=BOTH, expect_error=True)
    message = str(run.error)
    assert failed in message and "sandbox-sub-2" in message and "FAILED" in message, message
    assert "scheduled_export_accepted_mismatches" in message
    assert "ERROR" in run.logs
    # sub-2 holds before the failed job (its later jobs wait); sub-1 is unaffected.
    partitions = run.state["bookmarks"][JOBS]["partitions"]
    assert not [
        p
        for p in partitions
        if p["context"] == {"subscription_id": "sandbox-sub-2"} and "replication_key_value" in p
    ]
    assert not {r["job_id"] for r in run.records(ROWS) if r["subscription_id"] == "sandbox-sub-2"}
    assert bookmark(run, "sandbox-sub-1")["replication_key_value"].startswith(
        days_ago(2).isoformat()
    )

    accepted = {**base_config, "scheduled_export_accepted_mismatches": [failed]}
    done = run_tap(accepted, state=run.state, select=BOTH)
    assert done.error is None and "Accepted by 'scheduled_export_accepted_mismatches'" in done.logs
    assert bookmark(done, "sandbox-sub-2")["replication_key_value"].startswith(
        days_ago(1).isoformat()
    )
    assert len({r["job_id"] for r in done.records(ROWS)}) == 2  # sub-2's jobs after it


def test_a_succeeded_job_without_files_or_count_fails_naming_it_until_accepted(
    sandbox, base_config
):
    bare_day = days_ago(2)
    sandbox.options(scheduled_bare_jobs=[f"sandbox-sub-1/{bare_day.isoformat()}"])
    bare = job_id_for(sandbox.sandbox, "sandbox-sub-1", bare_day)
    run = run_tap(base_config, select=BOTH, expect_error=True)
    message = str(run.error)
    assert bare in message and "without files" in message and "lines_exported" in message
    assert bookmark(run, "sandbox-sub-1")["replication_key_value"].startswith(
        days_ago(3).isoformat()
    )

    accepted = {**base_config, "scheduled_export_accepted_mismatches": [bare]}
    done = run_tap(accepted, state=run.state, select=BOTH)
    assert done.error is None
    assert bookmark(done, "sandbox-sub-1")["replication_key_value"].startswith(bare_day.isoformat())


@pytest.mark.parametrize(
    ("progress", "problem"),
    [
        ({"files_done": 9, "rows_done": 0}, "files_done 9 but the job has 3 file(s)"),
        ({"files_done": 0, "rows_done": 40}, "rows_done 40 before any file is done"),
        ({"files_done": 1, "rows_done": 10**6}, "rows_done 1000000 but Branch exported"),
    ],
)
def test_an_impossible_progress_marker_fails_naming_stream_job_and_key(
    sandbox, base_config, progress, problem
):
    """Read as it is, it would skip the job's files (or count rows never read) with exit 0."""
    job = job_id_for(sandbox.sandbox, "sandbox-sub-1", days_ago(3))
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    state = {
        "bookmarks": {
            ROWS: {
                "partitions": [
                    {
                        "context": {"subscription_id": "sandbox-sub-1"},
                        "progress": {"job_id": job, **progress},
                    }
                ]
            }
        }
    }
    run = run_tap(config, state=state, select=BOTH, expect_error=True)
    message = str(run.error)
    assert f"stream '{ROWS}'" in message and job in message and "'progress'" in message, message
    assert problem in message, message
    assert not [r for r in run.records(ROWS) if r["job_id"] == job]


def test_a_subscription_listed_with_string_fields_fails_naming_it(sandbox, base_config):
    sandbox.options(scheduled_subscription_shape="flat")
    run = run_tap(base_config, select=BOTH, expect_error=True)
    message = str(run.error)
    assert "sandbox-sub-1" in message and "'destination'" in message, message
    assert "scheduled_exports" in message and "AttributeError" not in run.logs


@pytest.mark.parametrize("count", [-5, 4.0, "", "+5", True])
def test_a_job_whose_lines_exported_is_no_count_fails_naming_it(sandbox, base_config, count):
    """A count that is not what Branch documents (a non-negative integer) cannot check the
    job's rows. -5, 4.0 and "+5" once passed as numbers, and "" as no count at all (the
    job's rows then went unchecked, with a warning)."""
    bad_day = days_ago(2)
    sandbox.options(scheduled_lines_exported={f"sandbox-sub-1/{bad_day.isoformat()}": count})
    bad_job = job_id_for(sandbox.sandbox, "sandbox-sub-1", bad_day)
    run = run_tap(base_config, select=BOTH, expect_error=True)
    message = str(run.error)
    assert bad_job in message and f"lines_exported is {count!r}" in message, message
    assert not [r for r in run.records(ROWS) if r["job_id"] == bad_job]
    partitions = (run.state or {}).get("bookmarks", {}).get(JOBS, {}).get("partitions", [])
    kept = [p.get("replication_key_value", "") for p in partitions]
    assert all(value < bad_day.isoformat() for value in kept), kept


def test_a_count_sent_as_text_of_digits_is_read(sandbox, base_config):
    day = days_ago(2)
    listed = run_tap(base_config, select=[JOBS])
    job = job_id_for(sandbox.sandbox, "sandbox-sub-1", day)
    count = next(j["lines_exported"] for j in listed.records(JOBS) if j["job_id"] == job)
    sandbox.options(scheduled_lines_exported={f"sandbox-sub-1/{day.isoformat()}": str(count)})
    run = run_tap(base_config, select=BOTH)
    assert next(j["lines_exported"] for j in run.records(JOBS) if j["job_id"] == job) == count
    assert len([r for r in run.records(ROWS) if r["job_id"] == job]) == count


# --- Branch's 7-day retention of a job's files --------------------------------------------------


def _job(sandbox, subscription_id: str, days: int) -> str:
    return job_id_for(sandbox.sandbox, subscription_id, days_ago(days))


def _files_answering(sandbox, status: int) -> list[str]:
    return [
        e["path"]
        for e in sandbox.requests_log()
        if e["path"].startswith("/files/scheduled/") and e["status"] == status
    ]


def test_a_first_run_from_10_days_ago_skips_the_jobs_past_retention_naming_the_period(
    sandbox, base_config
):
    """Jobs whose files are past Branch's 7 days (the sandbox answers them 403) are left out
    of a first run, as Daily Exports v3 clamps its days: one warning per subscription names
    the period of the jobs surely gone, which are not asked for; the job only just past 7 days
    is asked for, its 403 skipped with a warning of its own; every job still kept is read,
    exit 0."""
    config = {**base_config, "start_date": days_ago(10).isoformat()}
    run = run_tap(config, select=BOTH)
    assert run.error is None
    read = collections.Counter(r["job_id"] for r in run.records(ROWS))
    lines = {j["job_id"]: j["lines_exported"] for j in run.records(JOBS)}
    asked = []
    for sub, last_done in (("sandbox-sub-1", 2), ("sandbox-sub-2", 1)):  # sub-1's day 1 RUNNING
        assert not {_job(sandbox, sub, n) for n in (10, 9)} & (set(read) | set(lines))
        assert _job(sandbox, sub, 8) in lines and _job(sandbox, sub, 8) not in read
        asked.append(_job(sandbox, sub, 8))
        for n in range(7, last_done - 1, -1):
            job = _job(sandbox, sub, n)
            assert read[job] == lines[job] > 0
        topic = "eo_install" if sub.endswith("1") else "eo_commerce_event"
        label = f"subscription {sub} ({topic}) of app sandbox-app"
        assert (
            f"scheduled_export_jobs ({label}, first run): Branch keeps a scheduled export job's "
            f"files only 7 days (2 job(s) past them); the period {days_ago(10)}T00:00:00+00:00 "
            f"to {days_ago(9)}T23:59:59+00:00 can no longer be fetched and is skipped. Starting "
            f"at {days_ago(8)}T10:30:00+00:00."
        ) in tap_logs(run)
        assert (
            f"scheduled_export_rows ({label}, first run): Branch keeps a scheduled export job's "
            f"files only 7 days and those of job {_job(sandbox, sub, 8)} answer 403; the period "
            f"{days_ago(8)}T00:00:00+00:00 to {days_ago(8)}T23:59:59+00:00 can no longer be "
            "fetched and is skipped."
        ) in tap_logs(run)
    assert {path.split("/")[6] for path in _files_answering(sandbox, 403)} == set(asked)
    assert bookmark(run, "sandbox-sub-1")["replication_key_value"].startswith(
        days_ago(2).isoformat()
    )

    # From 7 days back no job is past retention: nothing skipped, nothing to warn about.
    seven = run_tap({**config, "start_date": days_ago(7).isoformat()}, select=BOTH)
    assert seven.error is None and "can no longer be fetched" not in seven.logs
    assert {r["job_id"] for r in seven.records(ROWS)} == set(read)

    # Bookmarked, the next run starts at its bookmark and warns no more.
    sandbox.advance_days(1)
    again = run_tap(config, state=run.state, select=BOTH)
    assert again.error is None and "can no longer be fetched" not in again.logs
    assert {r["job_id"] for r in again.records(ROWS)} == {
        _job(sandbox, "sandbox-sub-1", 1),
        _job(sandbox, "sandbox-sub-2", 0),
    }


def test_a_first_run_reads_a_job_just_past_7_days_whose_files_branch_still_keeps(
    sandbox, base_config
):
    """Branch writes a job's files after its end_date and keeps them "typically 7 days": a job
    that ended a little over 7 days ago may still be there. A first run reads it when its files
    answer (here Branch keeps them 8 days), instead of skipping it by the clock with a warning."""
    sandbox.options(scheduled_retention_days=8)
    config = {
        **base_config,
        "start_date": days_ago(10).isoformat(),
        "scheduled_exports": [{"subscription_id": "sandbox-sub-2"}],
    }
    run = run_tap(config, select=BOTH)
    assert run.error is None
    job = _job(sandbox, "sandbox-sub-2", 8)
    lines = {j["job_id"]: j["lines_exported"] for j in run.records(JOBS)}
    read = collections.Counter(r["job_id"] for r in run.records(ROWS))
    assert read[job] == lines[job] > 0
    assert _job(sandbox, "sandbox-sub-2", 9) not in read  # gone at Branch: skipped, named
    assert f"to {days_ago(9)}T23:59:59+00:00 can no longer be fetched" in tap_logs(run)


def test_a_job_that_falls_out_of_retention_after_it_was_bookmarked_still_fails(
    sandbox, base_config
):
    """A first run from 10 days ago skips the jobs past retention and stops at a RUNNING job;
    when the next run comes after that job's files are past Branch's 7 days, the loss is no
    start_date's: it fails naming the job and the setting that accepts it, the bookmark stays."""
    pending = days_ago(5)
    sandbox.options(scheduled_statuses={f"sandbox-sub-1/{pending}": "RUNNING"})
    config = {
        **base_config,
        "start_date": days_ago(10).isoformat(),
        "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}],
    }
    first = run_tap(config, select=BOTH)
    assert first.error is None
    held = bookmark(first, "sandbox-sub-1")["replication_key_value"]
    assert held.startswith(days_ago(6).isoformat())

    sandbox.options(scheduled_statuses={})
    sandbox.advance_days(3)
    clock.set_now(NOW + dt.timedelta(days=3))
    job = _job(sandbox, "sandbox-sub-1", 5)
    later = run_tap(config, state=first.state, select=BOTH, expect_error=True)
    assert later.error is not None
    assert f"job {job}" in str(later.error) and "past Branch's retention" in str(later.error)
    assert "scheduled_export_accepted_mismatches" in str(later.error)
    assert bookmark(later, "sandbox-sub-1")["replication_key_value"] == held

    accepted = run_tap(
        {**config, "scheduled_export_accepted_mismatches": [job]}, state=first.state, select=BOTH
    )
    assert accepted.error is None
    assert bookmark(accepted, "sandbox-sub-1")["replication_key_value"] > held


def test_a_job_half_read_by_a_first_run_is_never_skipped_as_past_retention(sandbox, base_config):
    """No bookmark yet, but a run stopped inside a job (the rows' progress marker): the older
    jobs are still skipped, that job is not. Its rows were begun, so its files gone at Branch
    fail the run naming it."""
    config = {
        **base_config,
        "start_date": days_ago(10).isoformat(),
        "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}],
    }
    half_read = _job(sandbox, "sandbox-sub-1", 9)
    progress = {"job_id": half_read, "files_done": 1, "rows_done": 1}
    context = {"subscription_id": "sandbox-sub-1"}
    state = {"bookmarks": {ROWS: {"partitions": [{"context": context, "progress": progress}]}}}
    run = run_tap(config, state=state, select=BOTH, expect_error=True)
    assert run.error is not None
    assert f"job {half_read}" in str(run.error) and "past Branch's retention" in str(run.error)
    assert _job(sandbox, "sandbox-sub-1", 10) not in str(run.error)  # skipped with the warning
    assert "can no longer be fetched" in run.logs
