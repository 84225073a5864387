"""Cohort streams end to end against a time-scaled sandbox: the real rate limits, run fast.

The sandbox runs at TIME_SCALE sandbox seconds per real second; the tap's limits and
poll intervals are scaled the same way, so the documented 2/s, 5/min, 150/h hold.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import threading
import time

import pytest

from tap_branch.tap import TapBranch
from tests.support.sandbox import SANDBOX_TOKEN, SandboxControl, start_sandbox, utc_today
from tests.support.tap_runner import run_tap

TIME_SCALE = 100.0
STREAM = "cohort_installs_by_campaign"


def scaled_config(url: str, **extra) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=20)).isoformat(),
        "access_token": SANDBOX_TOKEN,
        "organization_id": "sandbox-org",
        "api_url": url,
        "api2_url": url,
        "backoff_factor": 0.05,
        "cohort_rate_limits": [
            {"requests": 2, "seconds": 1 / TIME_SCALE},
            {"requests": 5, "seconds": 60 / TIME_SCALE},
            {"requests": 150, "seconds": 3600 / TIME_SCALE},
        ],
        "cohort_poll_interval": 2 / TIME_SCALE,
        "cohort_poll_max_interval": 20 / TIME_SCALE,
        **extra,
    }


@pytest.fixture
def fast():
    running = start_sandbox(time_scale=TIME_SCALE)
    try:
        yield running
    finally:
        running.stop()


def calls(running, status=None) -> list[dict]:
    return [
        r
        for r in running.sandbox.request_log
        if r["path"].startswith("/v2/analytics") and (status is None or r["status"] == status)
    ]


def keys(records: list[dict], stream_pk: list[str]) -> list[tuple]:
    return [tuple(json.dumps(r[k]) for k in stream_pk) for r in records]


PK = [
    "report",
    "organization_id",
    "cohort_date",
    "install_activity_touch_data_tilde_campaign",
    "install_activity_touch_data_tilde_channel",
    "install_activity_touch_data_tilde_advertising_partner_name",
    "measure",
    "metric",
    "per_user",
    "cumulative",
    "band",
]


def test_json_and_csv_results_give_the_same_typed_records(fast):
    as_json = run_tap(scaled_config(fast.url), select=[STREAM]).records(STREAM)
    fast.sandbox.config.options.update(cohort_csv_users_column="user", cohort_csv_cost=False)
    as_csv = run_tap(scaled_config(fast.url, cohort_format="csv"), select=[STREAM]).records(STREAM)
    assert len(as_json) == len(as_csv) == 20 * 3 * 3 * 30  # days x combos x measures x bands
    first = as_json[0]
    assert isinstance(first["value"], (int, float)) and isinstance(first["users"], int)
    assert isinstance(first["cost"], float) and isinstance(first["per_user"], bool)
    assert first["organization_id"] == "sandbox-org" and first["report"] == "installs_by_campaign"
    assert {r["band_unit"] for r in as_json} == {"day"}
    assert len(set(keys(as_json, PK))) == len(as_json)
    # Same rows either way; the CSV (as in the docs' sample) has `user` and no cost.
    strip = lambda r: {k: v for k, v in r.items() if k != "cost"}  # noqa: E731
    assert sorted(map(json.dumps, map(strip, as_json))) == sorted(
        map(json.dumps, map(strip, as_csv))
    )
    assert all(r["cost"] is None for r in as_csv)
    posts = [r for r in calls(fast) if r["method"] == "POST"]
    assert len(posts) == 2


def test_queued_and_running_jobs_are_polled_with_growing_waits(fast):
    fast.sandbox.config.options["cohort_job_latency"] = 30  # sandbox seconds: 0.3 s here
    started = time.monotonic()
    run = run_tap(scaled_config(fast.url), select=[STREAM])
    assert run.records(STREAM)
    polls = [r for r in calls(fast) if r["method"] == "GET"]
    assert 3 <= len(polls) <= 8, "polls should back off, not hammer the 5/min budget"
    assert time.monotonic() - started < 5


def test_error_job_fails_with_branchs_message(fast):
    fast.sandbox.config.options["cohort_error_jobs"] = 1
    run = run_tap(scaled_config(fast.url), select=[STREAM], expect_error=True)
    assert run.error is not None
    assert "sandbox-injected error" in str(run.error) and "job" in str(run.error)
    assert "replication_key_value" not in json.dumps(run.state)


def test_job_past_timeout_is_an_error_naming_the_job(fast):
    fast.sandbox.config.options["cohort_job_latency"] = 10**6
    run = run_tap(
        scaled_config(fast.url, cohort_job_timeout=0.3), select=[STREAM], expect_error=True
    )
    job_ids = list(fast.sandbox.state["cohort_jobs"])
    assert run.error is not None and job_ids[0] in str(run.error)
    assert "cohort_job_timeout" in str(run.error)


def test_results_at_the_record_cap_are_split_until_complete(fast):
    # 9 rows a cohort day (3 combos x 3 measures); the account's cap is 45 rows (5 days).
    fast.sandbox.config.options["cohort_record_cap"] = 45
    config = scaled_config(
        fast.url,
        cohort_record_limit=45,
        start_date=(utc_today() - dt.timedelta(days=10)).isoformat(),
    )
    run = run_tap(config, select=[STREAM])
    records = run.records(STREAM)
    assert len(records) == 10 * 9 * 30
    assert len(set(keys(records, PK))) == len(records), "a split window must not duplicate rows"
    days = {r["cohort_date"] for r in records}
    assert len(days) == 10
    assert "splitting it in half" in run.logs
    assert "alone returned" not in run.logs


def test_a_single_day_at_the_cap_fails_naming_the_report_and_the_day(fast):
    """Branch may have cut a day's rows and no smaller window exists: exit 0 would hide it."""
    fast.sandbox.config.options["cohort_record_cap"] = 9
    start = utc_today() - dt.timedelta(days=2)
    config = scaled_config(fast.url, cohort_record_limit=9, start_date=start.isoformat())
    run = run_tap(config, select=[STREAM], expect_error=True)
    message = str(run.error)
    assert f"cohort day {start} alone returned 9 rows" in message, message
    assert "'installs_by_campaign'" in message and "fewer dimensions" in message
    assert "replication_key_value" not in json.dumps(run.state)


def test_limit_is_always_sent(fast):
    run_tap(scaled_config(fast.url, cohort_record_limit=60000), select=[STREAM])
    (job,) = fast.sandbox.state["cohort_jobs"].values()
    assert (
        job["limit"] == 50000
    )  # the sandbox caps at the account's 50,000; Branch's default would be 100


def test_maturity_bookmark_and_reextraction_across_runs(fast):
    report = {
        "name": "short",
        "measures": ["OPEN"],
        "granularity_band_count": 3,
        "dimensions": ["install_activity_touch_data_tilde_channel"],
    }
    stream = "cohort_short"
    config = scaled_config(
        fast.url,
        cohort_reports=[report],
        start_date=(utc_today() - dt.timedelta(days=10)).isoformat(),
    )
    first = run_tap(config, select=[stream])
    today = utc_today()
    bookmark = first.state["bookmarks"][stream]["replication_key_value"]
    assert bookmark == (today - dt.timedelta(days=1 + 3)).isoformat()
    # A day later (in the sandbox), immature days have grown; mature ones are not asked again.
    fast.sandbox._day_offset += 1
    second = run_tap(config, state=first.state, select=[stream])
    dates = {r["cohort_date"] for r in second.records(stream)}
    assert dates == {(today - dt.timedelta(days=n)).isoformat() for n in (3, 2, 1)}
    before = {
        (r["cohort_date"], r["install_activity_touch_data_tilde_channel"], r["band"]): r["value"]
        for r in first.records(stream)
    }
    after = {
        (r["cohort_date"], r["install_activity_touch_data_tilde_channel"], r["band"]): r["value"]
        for r in second.records(stream)
    }
    grown = [k for k in after if after[k] > before[k]]
    assert grown, "values of immature cohorts should have grown"
    assert (
        second.state["bookmarks"][stream]["replication_key_value"] == bookmark
    )  # real clock unchanged


def test_app_id_scope_from_the_later_docs(fast):
    config = scaled_config(fast.url, app_id="sandbox-app")
    del config["organization_id"]
    run = run_tap(config, select=[STREAM])
    records = run.records(STREAM)
    assert records and {r["app_id"] for r in records} == {"sandbox-app"}
    assert {r["organization_id"] for r in records} == {None}
    jobs = fast.sandbox.state["cohort_jobs"].values()
    assert jobs and {job["scope"] for job in jobs} == {"sandbox-app"}  # queried per app


def test_missing_org_and_app_is_a_clear_error(fast):
    config = scaled_config(fast.url)
    del config["organization_id"]
    run = run_tap(config, select=[STREAM], expect_error=True)
    assert "organization_id" in str(run.error) and "app_id" in str(run.error)
    assert calls(fast) == []


def test_three_reports_two_years_no_429_and_pipelined(fast):
    fast.sandbox.config.options["cohort_job_latency"] = 60  # a sandbox minute a job
    fast.sandbox.config.options["cohort_rows_per_day"] = 1
    three = [
        {"name": "a", "measures": ["OPEN"], "granularity_band_count": 1},
        {"name": "b", "measures": ["revenue"], "granularity_band_count": 1},
        {
            "name": "c",
            "measures": ["users"],
            "granularity_band_count": 1,
            "data_source": "reengagement_cohort",
        },
    ]
    config = scaled_config(
        fast.url,
        cohort_reports=three,
        start_date=(utc_today() - dt.timedelta(days=729)).isoformat(),
    )
    started = time.monotonic()
    run = run_tap(config, select=["cohort_a", "cohort_b", "cohort_c"])
    wall = time.monotonic() - started
    assert calls(fast, status=429) == []
    assert fast.sandbox.state.get("rate_limited", {}).get("cohort", 0) == 0
    for name in ("cohort_a", "cohort_b", "cohort_c"):
        assert len({r["cohort_date"] for r in run.records(name)}) == 729
    total = len(calls(fast))
    jobs = len(fast.sandbox.state["cohort_jobs"])
    assert jobs == 27  # 9 windows of <= 90 days per report
    # The limits alone impose (calls - 1) // 5 minutes; sequential jobs would add 27 latencies.
    bound = (total - 1) // 5 * 60 / TIME_SCALE
    sequential = jobs * 60 / TIME_SCALE
    assert wall < bound + 3 * 60 / TIME_SCALE + 2.0, (wall, bound)
    assert bound + 3 * 60 / TIME_SCALE < bound + sequential
    assert "window is full" in run.logs  # the limiter explains its waits


def test_secrets_stay_out_of_logs_records_and_state(fast):
    run = run_tap(scaled_config(fast.url), select=[STREAM])
    output = run.raw_output + run.logs
    assert SANDBOX_TOKEN not in output
    assert "X-Amz-Signature=" not in output.replace("X-Amz-Signature=REDACTED", "")
    assert "X-Amz-Credential=SANDBOX" not in output


def test_old_start_date_with_a_recent_bookmark_warns_about_nothing(fast):
    today = utc_today()
    bookmark = (today - dt.timedelta(days=5)).isoformat()
    state = {
        "bookmarks": {STREAM: {"replication_key": "cohort_date", "replication_key_value": bookmark}}
    }
    config = scaled_config(fast.url, start_date=(today - dt.timedelta(days=3 * 365)).isoformat())
    run = run_tap(config, state=state, select=[STREAM])
    assert "lookback" not in run.logs  # the run starts after its bookmark, well inside 24 months
    assert (
        min(r["cohort_date"] for r in run.records(STREAM))
        == (today - dt.timedelta(days=4)).isoformat()
    )

    # Without the bookmark the same start_date is clamped, and the warning names the setting.
    end = (today - dt.timedelta(days=2 * 365 - 3)).isoformat()
    fresh = run_tap({**config, "end_date": end}, select=[STREAM])
    assert "start_date" in fresh.logs and "24-month cohort lookback" in fresh.logs


def _two_reports_config(fast) -> dict:
    """Reports a (OPEN) and b (revenue), 2 bands each, over 200 days: 3 windows each."""
    two = [
        {"name": "a", "measures": ["OPEN"], "granularity_band_count": 2},
        {"name": "b", "measures": ["revenue"], "granularity_band_count": 2},
    ]
    return scaled_config(
        fast.url,
        cohort_reports=two,
        start_date=(utc_today() - dt.timedelta(days=200)).isoformat(),
    )


def test_next_report_jobs_are_submitted_while_the_last_ones_run(fast):
    """Reports pipelined: report b's first job is submitted before report a's last one has
    finished, yet each stream's records and bookmark equal those of a run of it alone."""
    fast.sandbox.config.options["cohort_job_latency"] = 60  # a sandbox minute a job
    fast.sandbox.config.options["cohort_rows_per_day"] = 1
    config = _two_reports_config(fast)
    together = run_tap(config, select=["cohort_a", "cohort_b"])
    assert calls(fast, status=429) == []
    jobs = list(fast.sandbox.state["cohort_jobs"].values())
    of = {m: [j for j in jobs if j["query"]["measures"] == [m]] for m in ("OPEN", "revenue")}
    assert len(of["OPEN"]) == len(of["revenue"]) == 3  # 200 days: 3 windows each, none twice
    a_last_finished = max(j["submitted"] + j["latency"] for j in of["OPEN"])
    b_first_submitted = min(j["submitted"] for j in of["revenue"])
    assert b_first_submitted < a_last_finished
    assert "(ahead, while cohort_a finishes)" in together.logs
    # b's records come after all of a's: each stream's output stays its own.
    streams = [m["stream"] for m in together.messages if m["type"] == "RECORD"]
    assert streams == sorted(streams)

    alone = {}
    for name in ("cohort_a", "cohort_b"):
        running = start_sandbox(time_scale=TIME_SCALE)
        try:
            running.sandbox.config.options.update(cohort_job_latency=60, cohort_rows_per_day=1)
            alone[name] = run_tap({**config, "api2_url": running.url}, select=[name])
        finally:
            running.stop()
    for name, run in alone.items():
        # Windows finish in any order, so records are compared as sets of rows.
        assert sorted(map(json.dumps, together.records(name))) == sorted(
            map(json.dumps, run.records(name))
        )
        assert len(together.records(name)) == 200 * 2  # days x bands (1 row, 1 measure a day)
        assert together.state["bookmarks"][name] == run.state["bookmarks"][name]
        assert together.state["bookmarks"][name]["replication_key_value"]


def test_a_later_reports_failed_job_fails_in_its_turn_naming_the_window(fast):
    """Jobs run in a background thread across reports: report b's submissions (made while
    report a runs) fail, yet a's records and bookmark are complete, and the run fails in
    b's turn with the error naming b's window."""
    fast.sandbox.config.options["cohort_rows_per_day"] = 1
    config = _two_reports_config(fast)
    # a's 3 windows are submitted first; every later submission is refused.
    SandboxControl(fast).fault(
        kind="status", status=400, method="POST", path="/v2/analytics", after=3, times=-1
    )
    run = run_tap(config, select=["cohort_a", "cohort_b"], expect_error=True)
    assert run.error is not None
    message = str(run.error)
    assert "cohort_b" in message and "submitting" in message, message
    assert len(run.records("cohort_a")) == 200 * 2
    assert run.records("cohort_b") == []
    assert run.state["bookmarks"]["cohort_a"]["replication_key_value"]
    assert "replication_key_value" not in json.dumps(run.state["bookmarks"].get("cohort_b", {}))
    # b's other windows are dropped after its first failure, not sent again and again.
    assert len(calls(fast, status=400)) == 1


def test_a_failed_poll_fails_the_run_naming_the_job_and_its_window(fast):
    """Polls are sent by the background thread; their failure reaches the main thread."""
    SandboxControl(fast).fault(
        kind="status", status=404, method="GET", path="/v2/analytics/", times=-1
    )
    run = run_tap(scaled_config(fast.url), select=[STREAM], expect_error=True)
    assert run.error is not None
    message = str(run.error)
    job_id = next(iter(fast.sandbox.state["cohort_jobs"]))
    start = (utc_today() - dt.timedelta(days=20)).isoformat()
    assert job_id in message and f"{STREAM}: the cohort job for {start}.." in message, message
    assert run.records(STREAM) == []


# --- results that are not what Branch documents: each fails naming the job, nothing emitted ---


def _fails_naming_the_job(fast, config: dict, *words: str):
    run = run_tap(config, select=[STREAM], expect_error=True)
    assert run.error is not None, "the run should fail"
    message = str(run.error)
    job_id = list(fast.sandbox.state["cohort_jobs"])[-1]  # this run's (one window)
    assert job_id in message and STREAM in message, message
    for word in words:
        assert word in message, message
    assert run.records(STREAM) == []
    assert "replication_key_value" not in json.dumps(run.state)
    return run


def _short_config(fast, **extra) -> dict:
    report = {"name": "installs_by_campaign", "measures": ["OPEN"], "granularity_band_count": 2}
    return scaled_config(
        fast.url,
        cohort_reports=[{**DEFAULT_DIMENSIONS, **report}],
        start_date=(utc_today() - dt.timedelta(days=3)).isoformat(),
        **extra,
    )


DEFAULT_DIMENSIONS = {
    "dimensions": [
        "install_activity_touch_data_tilde_campaign",
        "install_activity_touch_data_tilde_channel",
        "install_activity_touch_data_tilde_advertising_partner_name",
    ]
}


def test_a_json_result_without_its_closing_bracket_fails_naming_the_job(fast):
    """Cut at a row boundary, the array's rows all decode: only the missing `]` shows the loss."""
    fast.sandbox.config.options["cohort_result_fault"] = "unclosed"
    _fails_naming_the_job(fast, _short_config(fast), "without its closing ']'", "gave up after")


@pytest.mark.parametrize(
    ("cohort_format", "words"),
    [("json", "the JSON result is blank"), ("csv", "the file has no header line")],
)
def test_a_blank_result_is_not_an_empty_one(fast, cohort_format, words):
    fast.sandbox.config.options["cohort_result_fault"] = "blank"
    _fails_naming_the_job(fast, _short_config(fast, cohort_format=cohort_format), words)


def test_a_csv_row_with_too_few_or_too_many_cells_fails_naming_the_line(fast):
    SandboxControl(fast).fault(kind="corrupt_line", path="/files/cohort/", line=3, times=-1)
    _fails_naming_the_job(fast, _short_config(fast, cohort_format="csv"), "line 3 has", "cells")

    SandboxControl(fast).clear_faults()
    fast.sandbox.config.options["cohort_result_fault"] = "extra_cell"
    _fails_naming_the_job(
        fast,
        _short_config(fast, cohort_format="csv"),
        "the row ending at line 2 has 13 cells, its header 12",
    )


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("data_as_string", "has 'data' that is a JSON string, not an object of bands"),
        ("data_as_list", "has 'data' that is a JSON list"),
        (
            "bands_renamed",
            "has no band (day0, week_1, ...) in its 'data' object, which holds d0, d1",
        ),
        ("empty_data", "in its 'data' object, which holds nothing"),
        ("no_measure", "has no 'measure'"),
    ],
)
def test_a_row_in_an_undocumented_shape_fails_naming_report_job_and_row(fast, fault, words):
    fast.sandbox.config.options["cohort_result_fault"] = fault
    _fails_naming_the_job(
        fast, _short_config(fast), "report 'installs_by_campaign'", "row 1 ", words
    )


def test_a_csv_header_without_the_measure_column_fails_naming_it(fast):
    SandboxControl(fast).fault(
        kind="header", path="/files/cohort/", rename={"measure": "Measure"}, times=-1
    )
    _fails_naming_the_job(
        fast, _short_config(fast, cohort_format="csv"), "its header has no 'measure' column"
    )


def test_the_docs_sample_spelling_of_a_dimension_fills_the_dimension_asked_for(fast):
    """Branch's JSON sample answers `install_activity_touch_data_tilde_advertising_partner_name`
    as `install_activity_data_tilde_advertising_partner_name`: same records either way."""
    asked = run_tap(_short_config(fast), select=[STREAM]).records(STREAM)
    fast.sandbox.config.options["cohort_result_keys"] = "documented_sample"
    for cohort_format in ("json", "csv"):
        sample = run_tap(_short_config(fast, cohort_format=cohort_format), select=[STREAM])
        records = sample.records(STREAM)
        assert sorted(map(json.dumps, records)) == sorted(map(json.dumps, asked))
        partners = {
            r["install_activity_touch_data_tilde_advertising_partner_name"] for r in records
        }
        assert None not in partners and len(partners) > 1
        assert all("extra_columns" not in r for r in records)
        assert len(set(keys(records, PK))) == len(records)


def test_a_dimension_under_an_unknown_key_fails_naming_the_dimension_and_the_keys(fast):
    SandboxControl(fast).fault(
        kind="header",
        path="/files/cohort/",
        rename={"install_activity_touch_data_tilde_channel": "channel_label"},
        times=-1,
    )
    _fails_naming_the_job(
        fast,
        _short_config(fast, cohort_format="csv"),
        "report 'installs_by_campaign'",
        "has no install_activity_touch_data_tilde_channel",
        "keys the tap does not know: channel_label",
    )


def test_an_expired_result_url_is_refreshed_whatever_the_status_case(fast):
    """`finished` in lower case is read as FINISHED by the poll and by the URL refresh alike."""
    fast.sandbox.config.options["cohort_status_case"] = "lower"
    SandboxControl(fast).fault(kind="expire", path="/files/cohort/", times=1)
    run = run_tap(_short_config(fast), select=[STREAM])
    assert len(run.records(STREAM)) == 3 * 3 * 2  # days x combos x bands (one measure)
    assert "asking Branch for a fresh one" in run.logs


FIVE_MEASURES = ["OPEN", "users", "revenue", "PURCHASE", "LTV"]


def _five_measures_config(fast, **extra) -> dict:
    config = _short_config(fast, **extra)
    config["cohort_reports"][0]["measures"] = FIVE_MEASURES
    return config


def test_branch_refusing_more_than_3_measures_fails_naming_the_report_and_the_limit(fast):
    """An account held to the request tables' "Limit is 3" answers 400: the run fails saying
    which report, how many measures, the limit, and how to split it, before any record."""
    # An account with the later document's limits table (the sandbox's default) answers all 5.
    accepted = run_tap(_five_measures_config(fast), select=[STREAM])
    assert {r["measure"] for r in accepted.records(STREAM)} == set(FIVE_MEASURES)

    fast.sandbox.config.options["cohort_measures_limit"] = 3
    run = run_tap(_five_measures_config(fast), select=[STREAM], expect_error=True)
    message = str(run.error)
    for words in (
        STREAM,
        "Branch refused submitting",
        "HTTP 400",
        "Limit is 3",
        "report 'installs_by_campaign' asks for 5 measures",
        "request tables allow 3 a query",
        "at most 3 each",
    ):
        assert words in message, message
    assert "config" not in message.lower()
    assert run.records(STREAM) == []
    assert "replication_key_value" not in json.dumps(run.state)


def test_a_result_silently_missing_measures_fails_naming_them(fast):
    """The harsher variant: Branch takes the 5 measures but answers only 3 of them. Exit 0
    would lose two measures for good (their days pass the bookmark): the run fails instead."""
    fast.sandbox.config.options["cohort_measures_limit"] = 3
    fast.sandbox.config.options["cohort_measures_over_limit"] = "drop"
    # Within the limit nothing is missing, and nothing is refused.
    three = _short_config(fast)
    three["cohort_reports"][0]["measures"] = FIVE_MEASURES[:3]
    read = run_tap(three, select=[STREAM])
    assert {r["measure"] for r in read.records(STREAM)} == set(FIVE_MEASURES[:3])

    _fails_naming_the_job(
        fast,
        _five_measures_config(fast),
        "report 'installs_by_campaign'",
        "no row for measure(s) PURCHASE, LTV",
        "request tables allow 3 a query",
    )


def test_a_dry_run_of_two_reports_ends(fast):
    """`tap-branch --test` (the SDK's dry run, one record per stream): report a is abandoned
    after its first record, which stops the run's job thread; report b, whose jobs a's turn
    queued, must still get them (the thread resumes for it) instead of waiting forever."""
    fast.sandbox.config.options["cohort_rows_per_day"] = 1
    config = _two_reports_config(fast)
    tap = TapBranch(config=config, parse_env_config=False)
    for name, stream in tap.streams.items():
        stream.selected = name in ("cohort_a", "cohort_b")
    tap.setup_mapper()
    outcome: list = []
    out = io.BytesIO()
    stdout = io.TextIOWrapper(out, encoding="utf-8", write_through=True)  # open until read

    def dry_run() -> None:
        try:
            with contextlib.redirect_stdout(stdout):
                both = [tap.streams["cohort_a"], tap.streams["cohort_b"]]
                outcome.append(tap.run_sync_dry_run(dry_run_record_limit=1, streams=both))
        except BaseException as exc:  # noqa: BLE001 - reported below
            outcome.append(exc)

    runner = threading.Thread(target=dry_run, daemon=True)
    runner.start()
    runner.join(timeout=60)  # a bound for a hang, not a timing: the run takes seconds
    assert not runner.is_alive(), "the dry run hangs in cohort_b's turn"
    assert outcome == [True]
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    emitted = [m["stream"] for m in messages if m["type"] == "RECORD"]
    assert emitted == ["cohort_a", "cohort_b"]  # one record each, as the dry run asks
