"""Custom Exports (`/v2/logs`) end to end against a time-scaled sandbox."""

from __future__ import annotations

import datetime as dt
import re
import typing as t

import pytest

from tests.support.sandbox import NOW, SandboxControl, start_sandbox, utc_today
from tests.support.tap_runner import run_tap

#: Sandbox time runs this much faster: Branch's per-minute and per-hour windows take 1/60 s and 1 s.
SCALE = 3600.0
TRIO = ["custom_eo_click", "custom_eo_open", "custom_eo_install"]


def _scaled(windows: list[tuple[int, float]]) -> list[dict]:
    return [{"limit": limit, "seconds": seconds / SCALE} for limit, seconds in windows]


@pytest.fixture
def fast_sandbox() -> t.Iterator[SandboxControl]:
    running = start_sandbox(time_scale=SCALE)
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


@pytest.fixture
def config(fast_sandbox) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=2)).isoformat(),
        "access_token": "api_app_sandbox",
        "app_id": "sandbox-app",
        "api_url": fast_sandbox.url,
        "api2_url": fast_sandbox.url,
        "backoff_factor": 0.05,
        "custom_exports_poll_seconds": 0.01,
        "custom_exports_create_limits": _scaled([(10, 60), (25, 3600)]),
        "custom_exports_status_limits": _scaled([(50, 60), (1000, 3600)]),
        "custom_exports_days_limits": _scaled([(100, 3600)]),
    }


def _now_hour() -> dt.datetime:
    return NOW.replace(minute=0, second=0, microsecond=0)


def _hours_since_start(config: dict, end: dt.datetime) -> int:
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.timezone.utc)
    return int((end - start).total_seconds() // 3600)


def _bookmark(state: dict, stream: str) -> str:
    return state["bookmarks"][stream]["partitions"][0]["replication_key_value"]


def _jobs(sandbox: SandboxControl) -> list[dict]:
    return sandbox.sandbox.state.get("custom_jobs_created", [])


def test_three_report_types_typed_and_bookmarked_at_last_ready_hour(fast_sandbox, config):
    run = run_tap(config, select=TRIO)
    ready_end = _now_hour() - dt.timedelta(hours=3)  # the sandbox's data lands 3 hours late
    hours = _hours_since_start(config, ready_end)
    for stream, per_hour in zip(TRIO, (3, 2, 1), strict=True):
        records = run.records(stream)
        assert len(records) == hours * per_hour
        assert len({r["id"] for r in records}) == len(records)
        assert dt.datetime.fromisoformat(_bookmark(run.state, stream)) == ready_end
        assert max(r["timestamp"] for r in records) < ready_end.isoformat()
    row = run.records("custom_eo_click")[0]
    assert row["app_id"] == "sandbox-app"
    assert isinstance(row["timestamp_ms"], int) and row["timestamp"].endswith("+00:00")
    assert isinstance(row["custom_data"], dict)
    assert isinstance(row["last_attributed_touch_data_tilde_tags"], list)
    objects = [r["last_attributed_touch_data_custom_fields"] for r in run.records("custom_eo_open")]
    assert any(isinstance(o, dict) for o in objects)  # written as JSON text by that job, parsed
    assert all("unparsed_cells" not in r for r in run.records("custom_eo_open"))
    job = _jobs(fast_sandbox)[0]
    assert job["start"].startswith(config["start_date"])
    assert "api_app_sandbox" not in run.logs + run.raw_output
    assert not re.search(r"X-Amz-Signature=[0-9a-f]", run.logs + run.raw_output)
    assert "X-Amz" not in run.raw_output

    again = run_tap(config, state=run.state, select=TRIO)
    assert again.streams_with_records == set()
    assert len(_jobs(fast_sandbox)) == 3  # nothing new is ready: no job created


def test_late_events_are_picked_up_by_the_next_run(fast_sandbox, config):
    fast_sandbox.options(custom_ready_lag_hours=6)
    first = run_tap(config, select=["custom_eo_click"])
    assert dt.datetime.fromisoformat(
        _bookmark(first.state, "custom_eo_click")
    ) == _now_hour() - dt.timedelta(hours=6)

    fast_sandbox.options(custom_ready_lag_hours=2)  # four more hours have landed since
    second = run_tap(config, state=first.state, select=["custom_eo_click"])
    ids = [r["id"] for r in first.records("custom_eo_click") + second.records("custom_eo_click")]
    assert len(ids) == len(set(ids))
    assert len(second.records("custom_eo_click")) == 4 * 3
    assert len(ids) == _hours_since_start(config, _now_hour() - dt.timedelta(hours=2)) * 3


def test_windows_of_at_most_60_days_and_120_day_clamp(fast_sandbox, config):
    fast_sandbox.options(custom_rows_per_hour={"eo_install": 1})
    cfg = {**config, "start_date": (utc_today() - dt.timedelta(days=130)).isoformat()}
    run = run_tap(cfg, select=["custom_eo_install"])
    assert "reach back only 120 days" in run.logs
    assert cfg["start_date"] in run.logs
    jobs = _jobs(fast_sandbox)
    assert len(jobs) == 2
    for job in jobs:
        span = dt.datetime.fromisoformat(job["end"]) - dt.datetime.fromisoformat(job["start"])
        assert span <= dt.timedelta(days=60)
    first_end = dt.datetime.fromisoformat(jobs[0]["end"]) + dt.timedelta(
        seconds=1
    )  # end is inclusive
    assert (
        dt.datetime.fromisoformat(jobs[1]["start"]) == first_end
    )  # contiguous: no gap, no overlap
    # 120 days in two jobs exceed Branch's 100 days an hour: paced by the client, never a 429.
    assert fast_sandbox.sandbox.state.get("rate_limited", {}) == {}
    records = run.records("custom_eo_install")
    assert len(records) == len({r["id"] for r in records}) > 2800


def test_field_not_available_is_dropped_with_a_warning(fast_sandbox, config):
    fast_sandbox.options(custom_unavailable_fields=["user_data_idfv"])
    run = run_tap(config, select=["custom_eo_click", "custom_eo_open"])
    assert "user_data_idfv" in run.logs and "not available" in run.logs
    jobs = _jobs(fast_sandbox)
    assert len(jobs) == 2 and all("user_data_idfv" not in job["fields"] for job in jobs)
    assert all(r["user_data_idfv"] is None for r in run.records("custom_eo_click"))
    assert run.records("custom_eo_open")


def test_fields_refused_one_per_answer_are_dropped_until_none_is_left_once_a_run(
    fast_sandbox, config
):
    refused = ["user_data_idfv", "user_data_aaid", "user_data_geo_city_en"]
    fast_sandbox.options(custom_unavailable_fields=refused)
    run = run_tap({**config, "custom_exports_window_days": 1}, select=["custom_eo_click"])
    # eo_click has no existing_user either: four refusals, each asked once in the whole run.
    assert fast_sandbox.sandbox.state["custom_fields_refused"] == 4
    jobs = _jobs(fast_sandbox)
    assert len(jobs) >= 2  # the later windows never ask for a refused field again
    assert all(not {*refused, "existing_user"} & set(job["fields"]) for job in jobs)
    warnings = [line for line in run.logs.splitlines() if "are requested no more" in line]
    assert len(warnings) == 1
    assert all(field in warnings[0] for field in [*refused, "existing_user"])
    records = run.records("custom_eo_click")
    assert records and all(r["user_data_aaid"] is None for r in records)


def test_report_types_without_documented_readiness_are_not_asked(fast_sandbox, config):
    run = run_tap(config, select=["custom_webhook2", "custom_eo_sms_sent"])
    asked = [r for r in fast_sandbox.requests_log() if r["path"] == "/v2/data/ready"]
    assert asked == []
    assert run.logs.count("documented for the eo_* event topics only") == 2
    assert run.records("custom_webhook2") and run.records("custom_eo_sms_sent")


def test_request_handle_key_and_multi_file_results(fast_sandbox, config):
    fast_sandbox.options(custom_handle_key="request_handle", custom_rows_per_file=25)
    run = run_tap(config, select=["custom_eo_click"])
    files = {
        r["path"] for r in fast_sandbox.requests_log() if r["path"].startswith("/files/custom/")
    }
    assert len(files) > 3
    hours = _hours_since_start(config, _now_hour() - dt.timedelta(hours=3))
    assert len(run.records("custom_eo_click")) == hours * 3


def test_429_with_error_code_7_body_is_waited_out(fast_sandbox, config):
    fast_sandbox.fault(kind="rate_limit", path="/v2/logs", method="POST", retry_after=1)
    run = run_tap(config, select=["custom_eo_install"])
    assert "rate limit" in run.logs.lower() and "retry after 1 seconds" in run.logs
    assert run.records("custom_eo_install")


def test_client_limiter_paces_job_creation_without_429s():
    # Its own sandbox where Branch's minute lasts 2 s: twelve or more quick jobs always fill it.
    scale = 30.0
    start = dt.datetime.combine(utc_today() - dt.timedelta(days=12), dt.time(), dt.timezone.utc)
    ready_end = _now_hour() - dt.timedelta(hours=3)  # the sandbox's data lands 3 hours late
    # One-day windows up to the last ready hour: 12 before 04:00 UTC, 13 after.
    expected = -(-(ready_end - start) // dt.timedelta(days=1))
    assert expected >= 12
    running = start_sandbox(time_scale=scale, options={"custom_job_seconds": 0.3})
    try:
        control = SandboxControl(running)
        cfg = {
            "start_date": start.date().isoformat(),
            "access_token": "api_app_sandbox",
            "app_id": "sandbox-app",
            "api2_url": control.url,
            "custom_exports_poll_seconds": 0.01,
            "custom_exports_window_days": 1,
            "custom_exports_create_limits": [
                {"limit": limit, "seconds": seconds / scale}
                for limit, seconds in [(10, 60), (25, 3600)]
            ],
        }
        run = run_tap(cfg, select=["custom_eo_install"])
        created = [
            r["time"]
            for r in control.requests_log()
            if r["path"] == "/v2/logs" and r["method"] == "POST"
        ]
        assert len(created) == expected
        assert "window is full" in run.logs
        assert control.sandbox.state.get("rate_limited", {}) == {}
        # Never more than 10 creations in any 60 sandbox seconds (2 s here).
        assert all(
            later - first >= 60 / scale for first, later in zip(created, created[10:], strict=False)
        )
    finally:
        running.stop()


def test_resume_after_kill_between_files_reuses_the_job(fast_sandbox, config):
    fast_sandbox.options(custom_rows_per_file=40)
    full = run_tap(config, select=["custom_eo_click"])
    all_ids = sorted(r["id"] for r in full.records("custom_eo_click"))
    assert len(all_ids) > 80

    fast_sandbox.sandbox.state["custom_jobs_created"] = []
    fast_sandbox.fault(kind="status", path="/1.json.gz", status=404, times=-1)
    killed = run_tap(config, select=["custom_eo_click"], expect_error=True)
    assert killed.error is not None
    progress = killed.state["bookmarks"]["custom_eo_click"]["partitions"][0]["window_in_progress"]
    assert len(progress["files_done"]) == 1 and progress["handle"]
    assert (
        "replication_key_value" not in killed.state["bookmarks"]["custom_eo_click"]["partitions"][0]
    )
    fast_sandbox.clear_faults()

    resumed = run_tap(config, state=killed.state, select=["custom_eo_click"])
    assert len(_jobs(fast_sandbox)) == 1  # the interrupted job was resumed, not created again
    ids = [r["id"] for r in killed.records("custom_eo_click") + resumed.records("custom_eo_click")]
    assert sorted(ids) == all_ids
    partition = resumed.state["bookmarks"]["custom_eo_click"]["partitions"][0]
    assert "window_in_progress" not in partition


def test_failed_job_is_a_clear_error_and_keeps_the_bookmark(fast_sandbox, config):
    fast_sandbox.options(custom_fail_report_types=["eo_open"])
    run = run_tap(config, select=["custom_eo_open"], expect_error=True)
    assert run.error is not None
    assert "custom_eo_open" in str(run.error) and "fail" in str(run.error)
    assert "replication_key_value" not in str(run.state)


def test_complete_job_whose_files_cannot_be_found_keeps_the_bookmark(fast_sandbox, config):
    fast_sandbox.options(custom_response_url_key="download_links")  # a shape the tap does not know
    run = run_tap(config, select=["custom_eo_install"], expect_error=True)
    assert run.error is not None and "names no file URL" in str(run.error)
    assert "download_links" in str(run.error)
    assert "replication_key_value" not in str(run.state)


def test_report_type_unknown_to_readiness_uses_the_assumed_delay(fast_sandbox, config):
    run = run_tap(config, select=["custom_skadnetwork_invalid_messages"])
    assert "readiness check does not know" in run.logs
    end = dt.datetime.fromisoformat(_bookmark(run.state, "custom_skadnetwork_invalid_messages"))
    assert end == (NOW - dt.timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    assert run.records("custom_skadnetwork_invalid_messages")


def test_missing_access_token_names_the_setting(fast_sandbox, config):
    cfg = {k: v for k, v in config.items() if k != "access_token"}
    run = run_tap(cfg, select=["custom_eo_click"], expect_error=True)
    assert "access_token" in str(run.error)


def test_expired_file_url_is_refreshed_from_the_job(fast_sandbox, config):
    fast_sandbox.fault(kind="expire", path="/files/custom/", times=1)
    run = run_tap(config, select=["custom_eo_install"])
    assert "expired" in run.logs
    hours = _hours_since_start(config, _now_hour() - dt.timedelta(hours=3))
    assert len(run.records("custom_eo_install")) == hours


def test_custom_streams_are_opt_in_and_daily_v3_streams_are_not(config):
    from tap_branch.tap import TapBranch

    tap = TapBranch(config=config, parse_env_config=False)
    custom = [s for name, s in tap.streams.items() if name.startswith("custom_")]
    assert len(custom) == 34  # 15 topics, 14 blocked variants, cost, 2 SKAdNetwork, SAN, webhook2
    assert not any(stream.selected for stream in custom)
    assert all(tap.streams[f"daily_{t}"].selected for t in ("eo_click", "eo_open", "eo_install"))


def test_end_date_bounds_the_export(fast_sandbox, config):
    cfg = {**config, "end_date": (utc_today() - dt.timedelta(days=2)).isoformat()}
    run = run_tap(cfg, select=["custom_eo_open"])
    limit = dt.datetime.combine(utc_today() - dt.timedelta(days=1), dt.time(), dt.timezone.utc)
    assert dt.datetime.fromisoformat(_bookmark(run.state, "custom_eo_open")) == limit
    assert len(run.records("custom_eo_open")) == 24 * 2


def _progress(state: dict, stream: str) -> dict | None:
    return state["bookmarks"][stream]["partitions"][0].get("window_in_progress")


def test_files_differing_only_in_their_query_are_each_read_and_resumed(fast_sandbox, config):
    fast_sandbox.options(custom_files_by_query=True, custom_rows_per_file=25)
    full = run_tap(config, select=["custom_eo_click"])
    ids = sorted(r["id"] for r in full.records("custom_eo_click"))
    hours = _hours_since_start(config, _now_hour() - dt.timedelta(hours=3))
    assert len(ids) == len(set(ids)) == hours * 3 > 75  # four files or more, one URL path

    fast_sandbox.sandbox.state["custom_jobs_created"] = []
    fast_sandbox.fault(kind="status", path="/files-by-query/", status=404, after=2, times=-1)
    killed = run_tap(config, select=["custom_eo_click"], expect_error=True)
    progress = _progress(killed.state, "custom_eo_click")
    assert len(progress["files_done"]) == 2 and progress["lines_done"] == 50
    assert all("X-Amz" not in entry and "part=" not in entry for entry in progress["files_done"])
    fast_sandbox.clear_faults()

    resumed = run_tap(config, state=killed.state, select=["custom_eo_click"])
    assert len(_jobs(fast_sandbox)) == 1  # the same job, its files 3.. only
    both = killed.records("custom_eo_click") + resumed.records("custom_eo_click")
    assert sorted(r["id"] for r in both) == ids
    assert _progress(resumed.state, "custom_eo_click") is None


def test_a_state_of_the_older_version_resumes_after_its_files(fast_sandbox, config):
    """Older states name a finished file by its URL alone, and hold no count of lines."""
    fast_sandbox.options(custom_rows_per_file=40)
    fast_sandbox.fault(kind="status", path="/1.json.gz", status=404, times=-1)
    killed = run_tap(config, select=["custom_eo_click"], expect_error=True)
    fast_sandbox.clear_faults()
    progress = _progress(killed.state, "custom_eo_click")
    progress["files_done"] = [entry.split(":", 1)[1] for entry in progress["files_done"]]
    del progress["lines_done"]

    resumed = run_tap(config, state=killed.state, select=["custom_eo_click"])
    both = killed.records("custom_eo_click") + resumed.records("custom_eo_click")
    hours = _hours_since_start(config, _now_hour() - dt.timedelta(hours=3))
    assert len({r["id"] for r in both}) == len(both) == hours * 3
    assert "row count cannot be checked" in resumed.logs


@pytest.mark.parametrize("bias", [1, -1])
def test_rows_not_adding_up_to_lines_exported_fail_and_keep_the_bookmark(
    fast_sandbox, config, bias
):
    fast_sandbox.options(custom_lines_exported_bias=bias, custom_rows_per_file=40)
    run = run_tap(config, select=["custom_eo_install"], expect_error=True)
    handle = _jobs(fast_sandbox)[0]["handle"]
    assert handle in str(run.error) and "lines_exported" in str(run.error)
    assert "replication_key_value" not in str(run.state)
    assert _progress(run.state, "custom_eo_install") is None  # the next run asks for a new job

    fast_sandbox.options(custom_lines_exported_bias=0)
    again = run_tap(config, state=run.state, select=["custom_eo_install"])
    assert len(_jobs(fast_sandbox)) == 2
    hours = _hours_since_start(config, _now_hour() - dt.timedelta(hours=3))
    assert len(again.records("custom_eo_install")) == hours


def test_complete_job_without_files_is_empty_only_when_branch_says_0_lines(fast_sandbox, config):
    complete = {"status": "complete", "code": 200}
    fast_sandbox.fault(kind="status", status=200, body=complete, path="/v2/logs/", method="GET")
    run = run_tap(config, select=["custom_eo_install"], expect_error=True)
    assert "no lines_exported" in str(run.error) and "names no file URL" in str(run.error)
    assert "replication_key_value" not in str(run.state)

    empty = {**complete, "lines_exported": 0}
    fast_sandbox.fault(kind="status", status=200, body=empty, path="/v2/logs/", method="GET")
    fine = run_tap(config, select=["custom_eo_install"])
    assert fine.records("custom_eo_install") == []
    assert _bookmark(fine.state, "custom_eo_install")


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "Internal server error", "code": 500}},
        {"code": 200, "message": "ok"},
        {"status": None, "response_url": "https://example.com/x.json.gz"},
    ],
)
def test_a_status_answer_that_is_no_status_fails_at_once(fast_sandbox, config, body):
    fast_sandbox.fault(kind="status", status=200, body=body, path="/v2/logs/", method="GET")
    cfg = {**config, "custom_exports_job_timeout": 3600, "custom_exports_poll_seconds": 1}
    run = run_tap(cfg, select=["custom_eo_install"], expect_error=True)
    handle = _jobs(fast_sandbox)[0]["handle"]
    assert handle in str(run.error)
    polled = [r for r in fast_sandbox.requests_log() if r["path"].startswith("/v2/logs/")]
    assert len(polled) == 1  # not polled until the job timeout
    assert "replication_key_value" not in str(run.state)


@pytest.mark.parametrize(
    "body",
    [
        {"data_ready": "false", "date": "x"},
        {"date": "x"},
        {"error": {"message": "Internal server error", "code": 500}},
    ],
)
def test_a_readiness_answer_without_a_boolean_data_ready_fails(fast_sandbox, config, body):
    fast_sandbox.fault(kind="status", status=200, body=body, path="/v2/data/ready")
    run = run_tap(config, select=["custom_eo_install"], expect_error=True)
    assert "checking whether Branch has finished" in str(run.error)
    assert _jobs(fast_sandbox) == []  # "false" as text is not "ready"
    assert run.records("custom_eo_install") == []


def test_a_refused_access_token_names_the_setting(fast_sandbox, config):
    wrong = "api_app_wrong_token_value"
    run = run_tap(
        {**config, "access_token": wrong}, select=["custom_eo_install"], expect_error=True
    )
    assert "'access_token'" in str(run.error)  # Branch says "Authentication failed !" with a 400
    assert "readiness check does not know" not in run.logs
    assert wrong not in run.logs + run.raw_output

    body = {"error": {"message": "Invalid access token", "code": 401}}
    fast_sandbox.fault(kind="status", status=401, body=body, path="/v2/logs", method="POST")
    run = run_tap(config, select=["custom_eo_install"], expect_error=True)
    assert "'access_token'" in str(run.error) and "creating the eo_install export job" in str(
        run.error
    )


def test_a_fresh_answer_listing_the_files_in_another_order_gives_each_file_once(
    fast_sandbox, config, monkeypatch
):
    """A 403 asks the job for a fresh URL; nothing says Branch lists its files in one order.
    The fresh URL is found by the file's URL without query, never by its place in the list."""
    fast_sandbox.options(custom_rows_per_file=40)
    clean = run_tap(config, select=["custom_eo_click"])
    ids = sorted(r["id"] for r in clean.records("custom_eo_click"))
    assert len(ids) > 80  # three files or more

    take = fast_sandbox.sandbox.faults.take

    def reorder_then_take(request):
        if "/files/custom/" in request.path and not fast_sandbox.sandbox.option(
            "custom_file_order"
        ):
            fast_sandbox.sandbox.config.options["custom_file_order"] = "reversed"
        return take(request)

    monkeypatch.setattr(fast_sandbox.sandbox.faults, "take", reorder_then_take)
    fast_sandbox.fault(kind="expire", path="/files/custom/", times=1)  # the first file: 403
    run = run_tap(config, select=["custom_eo_click"])
    assert "expired" in run.logs
    assert sorted(r["id"] for r in run.records("custom_eo_click")) == ids
