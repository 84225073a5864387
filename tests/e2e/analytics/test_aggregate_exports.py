"""Aggregate Exports streams (`aggregate_<name>`) against the sandbox, whose results come from
the same events as its Query API: equal values through both APIs, results split in halves at
the record limit, failed jobs and bad reports named."""

from __future__ import annotations

import collections
import datetime as dt
import re

import jsonschema
import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.tap import TapBranch
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    SECOND,
    SandboxControl,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import run_tap

REPORT = {
    "name": "installs",
    "data_source": "eo_install",
    "aggregation": "unique_count",
    "dimensions": ["last_attributed_touch_data_tilde_campaign", "user_data_os"],
}
AGGREGATE, QUERY = "aggregate_installs", "query_installs"


@pytest.fixture
def fast() -> SandboxControl:
    running = start_sandbox(time_scale=100.0, options={"cohort_job_latency": 0.5})
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


@pytest.fixture
def two_apps() -> SandboxControl:
    """The sandbox with a second app in its organization."""
    running = start_sandbox(
        time_scale=100.0, options={"cohort_job_latency": 0.5}, extra_apps=[SECOND]
    )
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


def config(sandbox: SandboxControl, **extra) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=12)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
        "backoff_factor": 0.05,
        "query_reports": [REPORT],
        "aggregate_reports": [REPORT],
        "aggregate_poll_interval": 0.02,
        "aggregate_rate_limits": [
            {"requests": 2, "seconds": 0.01},
            {"requests": 5, "seconds": 0.6},
        ],
        "query_rate_limits": [{"requests": 5, "seconds": 0.01}, {"requests": 20, "seconds": 0.6}],
        **extra,
    }


def _sorted(records: list[dict]) -> list[dict]:
    return sorted(records, key=lambda r: (r["date"], r["dimension_values"]))


@pytest.mark.parametrize(
    ("zone", "result_format"), [("Asia/Tokyo", "csv"), ("America/Los_Angeles", "json")]
)
def test_aggregates_equal_the_query_apis_numbers_split_at_the_limit(fast, zone, result_format):
    fast.options(query_time_zones={SANDBOX_APP: zone})
    run = run_tap(
        config(
            fast,
            dashboard_time_zone=zone,
            aggregate_format=result_format,
            aggregate_record_limit=60,
        ),
        select=[AGGREGATE, QUERY],
    )
    aggregates = run.records(AGGREGATE)
    assert aggregates and _sorted(aggregates) == _sorted(run.records(QUERY))
    (schema,) = [
        m["schema"] for m in run.messages if m.get("stream") == AGGREGATE and m["type"] == "SCHEMA"
    ]
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    for record in aggregates:
        validator.validate(record)
    assert "the limit: asking in halves" in run.logs  # 7 days of rows exceed 60
    days = {r["date"] for r in aggregates}
    assert min(days) == config(fast)["start_date"]
    assert max(days) == (utc_today() - dt.timedelta(days=1)).isoformat()
    bookmark = run.state["bookmarks"][AGGREGATE]["partitions"][0]["replication_key_value"]
    assert bookmark == (utc_today() - dt.timedelta(days=8)).isoformat()


def test_a_single_day_at_the_limit_fails_naming_it(fast):
    run = run_tap(config(fast, aggregate_record_limit=3), select=[AGGREGATE], expect_error=True)
    # several jobs are in flight: the day named is the first whose job finished
    found = re.search(r"day (\S+) alone returned 3 rows, the record limit", str(run.error))
    assert found, run.error
    assert config(fast)["start_date"] <= found[1] < utc_today().isoformat()
    assert AGGREGATE not in run.state.get("bookmarks", {})


def test_a_failed_job_fails_naming_its_window(fast):
    fast.options(cohort_error_jobs=1)
    run = run_tap(config(fast), select=[AGGREGATE], expect_error=True)
    first = utc_today() - dt.timedelta(days=12)
    assert f"window {first}..{first + dt.timedelta(days=6)}" in str(run.error)
    assert "failed: Query execution failed" in str(run.error)


def test_a_second_run_rereads_only_the_settling_window(fast):
    first = run_tap(config(fast), select=[AGGREGATE])
    second = run_tap(config(fast), state=first.state, select=[AGGREGATE])
    settled = utc_today() - dt.timedelta(days=8)
    assert sorted({r["date"] for r in second.records(AGGREGATE)}) == [
        (settled + dt.timedelta(days=n)).isoformat() for n in range(1, 8)
    ]


def test_an_invalid_aggregate_report_fails_at_start_naming_it():
    config = {
        "start_date": "2026-03-01",
        "aggregate_reports": [{**REPORT, "data_source": "xx_click"}],
    }
    with pytest.raises(
        ConfigValidationError, match=r"aggregate_reports\[0\] \('installs'\), field 'data_source'"
    ):
        TapBranch(config=config, parse_env_config=False)


def test_the_airbyte_source_reads_an_aggregate_stream_like_the_singer_tap(fast, tmp_path):
    from airbyte_protocol.models import Type

    from tests.e2e.airbyte.test_protocol import airbyte, configured

    settings = config(fast)
    discovered = airbyte("discover", files={"--config": settings}, tmp_path=tmp_path)
    (message,) = discovered.of(Type.CATALOG)
    catalog = message.catalog.model_dump(mode="json", exclude_none=True)
    chosen = configured(catalog, (AGGREGATE,))
    read = airbyte("read", files={"--config": settings, "--catalog": chosen}, tmp_path=tmp_path)
    assert read.returncode == 0, read.raw[-2000:]
    singer = run_tap(settings, select=[AGGREGATE])
    assert _sorted([m.record.data for m in read.of(Type.RECORD)]) == _sorted(
        singer.records(AGGREGATE)
    )
    assert read.states()[-1]["stream"]["stream_state"] == {
        AGGREGATE: singer.state["bookmarks"][AGGREGATE]
    }


# --- organization scope --------------------------------------------------------------

ORG = "sandbox-org"
CAMPAIGN = "last_attributed_touch_data_tilde_campaign"
BY_APP = {**REPORT, "name": "by_app", "dimensions": ["app_id", *REPORT["dimensions"]]}
ORG_TOTAL = {"name": "total", "data_source": "eo_install", "aggregation": "total_count"}
ORG_TOTAL["dimensions"] = [CAMPAIGN]


def org_config(sandbox: SandboxControl, **extra) -> dict:
    settings = config(
        sandbox,
        organization_id=ORG,
        apps=[
            {"branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET, "app_id": SANDBOX_APP},
            {"branch_key": SECOND.branch_key, "branch_secret": SECOND.branch_secret},
        ],
        query_reports=[REPORT, {**ORG_TOTAL, "name": "total"}],
        aggregate_reports=[BY_APP, ORG_TOTAL],
        **extra,
    )
    del settings["app_id"], settings["branch_key"], settings["branch_secret"]
    settings["apps"][1]["app_id"] = SECOND.app_id
    return settings


def test_an_organization_report_counts_its_apps_together_keyed_by_organization(two_apps):
    zone = "America/Los_Angeles"
    two_apps.options(query_time_zones={SANDBOX_APP: zone, SECOND.app_id: zone, ORG: zone})
    run = run_tap(
        org_config(two_apps, dashboard_time_zone=zone),
        select=["aggregate_by_app", "aggregate_total", QUERY, "query_total"],
    )
    by_app, total = run.records("aggregate_by_app"), run.records("aggregate_total")
    assert by_app and total
    # dimension app_id splits the organization's numbers by app: the apps' own Query numbers
    assert {r["organization_id"] for r in by_app + total} == {ORG}
    assert {r["app_id"] for r in by_app} == {SANDBOX_APP, SECOND.app_id}
    assert {
        (r["app_id"], r["date"], r[CAMPAIGN], r["user_data_os"]): r["unique_count"] for r in by_app
    } == {
        (r["app_id"], r["date"], r[CAMPAIGN], r["user_data_os"]): r["unique_count"]
        for r in run.records(QUERY)
    }
    # without it, Branch names no app: the organization's apps together
    assert {r["app_id"] for r in total} == {None}
    summed: dict[tuple, int] = {}
    for r in run.records("query_total"):
        key = (r["date"], r[CAMPAIGN])
        summed[key] = summed.get(key, 0) + r["total_count"]
    assert {(r["date"], r[CAMPAIGN]): r["total_count"] for r in total} == summed
    assert len({r["app_id"] for r in run.records("query_total")}) == 2  # both apps counted
    for stream in ("aggregate_by_app", "aggregate_total"):
        (schema,) = [m for m in run.messages if m.get("stream") == stream and m["type"] == "SCHEMA"]
        assert schema["key_properties"] == ["report", "organization_id", "date", "dimension_values"]
        validator = jsonschema.Draft7Validator(schema["schema"])
        for record in run.records(stream):
            validator.validate(record)
        (partition,) = run.state["bookmarks"][stream]["partitions"]
        assert partition["context"] == {"organization_id": ORG}


def test_an_organization_report_in_another_zone_than_configured_fails_naming_the_setting(two_apps):
    # Branch counts an organization's days in a zone of its own (the sandbox: not its apps')
    two_apps.options(query_time_zones={SANDBOX_APP: "UTC", ORG: "Asia/Tokyo"})
    run = run_tap(
        org_config(two_apps, dashboard_time_zones={SANDBOX_APP: "UTC"}),
        select=["aggregate_total"],
        expect_error=True,
    )
    assert f"the zone set for organization {ORG}: set 'dashboard_time_zones'" in str(run.error)
    assert "aggregate_total" not in run.state.get("bookmarks", {})


# --- the hour's budget and jobs in flight -----------------------------------------------


def test_a_run_whose_jobs_will_not_fit_the_hour_says_so_up_front(fast, caplog):
    start = utc_today() - dt.timedelta(days=700)
    tap = TapBranch(
        config=config(fast, start_date=start.isoformat()) | {"aggregate_rate_limits": None},
        parse_env_config=False,
    )
    caplog.set_level("INFO")
    tap.streams[AGGREGATE]._announce_run()
    # 700 days: 100 windows, a submission and about two polls each; Branch allows 150 an hour
    assert (
        "Aggregate Exports: about 300 calls needed but the rate limits allow 150 in the next hour"
        in caplog.text
    )
    assert "at least 1.0 hours" in caplog.text


def test_jobs_run_side_by_side_and_the_bookmark_waits_for_every_earlier_window(fast):
    fast.clear_requests()
    run = run_tap(
        config(
            fast,
            start_date=(utc_today() - dt.timedelta(days=26)).isoformat(),
            aggregate_settle_days=0,
            aggregate_record_limit=60,  # a window's result is split: its halves finish late
            aggregate_max_concurrent_jobs=3,
        ),
        select=[AGGREGATE, QUERY],
    )
    calls = [r for r in fast.requests_log() if r["path"].startswith("/v2/analytics")]
    assert [r["method"] for r in calls[:3]] == ["POST"] * 3  # three jobs before the first poll
    assert _sorted(run.records(AGGREGATE)) == _sorted(run.records(QUERY))
    # records arrive as jobs finish: a later window's before an earlier one's (a window spans
    # at most 7 days, so a record 7 days after one emitted later is another window's) ...
    dates = [r["date"] for r in run.records(AGGREGATE)]
    latest = [max(dates[: i + 1]) for i in range(len(dates))]
    assert any(
        dt.date.fromisoformat(top) - dt.date.fromisoformat(day) >= dt.timedelta(days=7)
        for top, day in zip(latest, dates, strict=True)
    )
    # ... and every bookmark comes after all the records of the days it passes
    every = collections.Counter(dates)
    seen: collections.Counter = collections.Counter()
    bookmarks = []
    for message in run.messages:
        if message["type"] == "RECORD" and message["stream"] == AGGREGATE:
            seen[message["record"]["date"]] += 1
        elif message["type"] == "STATE" and AGGREGATE in message["value"].get("bookmarks", {}):
            (partition,) = message["value"]["bookmarks"][AGGREGATE]["partitions"]
            bookmark = partition["replication_key_value"]
            assert all(seen[day] == n for day, n in every.items() if day <= bookmark), bookmark
            bookmarks.append(bookmark)
    assert bookmarks == sorted(bookmarks)
    assert bookmarks[-1] == (utc_today() - dt.timedelta(days=1)).isoformat()
