"""Aggregate Exports streams (`aggregate_<name>`) against the sandbox, whose results come from
the same events as its Query API: equal values through both APIs, results split in halves at
the record limit, failed jobs and bad reports named."""

from __future__ import annotations

import datetime as dt

import jsonschema
import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.ratelimit import reset_shared_limiters
from tap_branch.tap import TapBranch
from tests.conftest import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    SandboxControl,
    start_sandbox,
    utc_today,
)
from tests.tap_runner import run_tap

REPORT = {
    "name": "installs",
    "data_source": "eo_install",
    "aggregation": "unique_count",
    "dimensions": ["last_attributed_touch_data_tilde_campaign", "user_data_os"],
}
AGGREGATE, QUERY = "aggregate_installs", "query_installs"


@pytest.fixture
def fast() -> SandboxControl:
    reset_shared_limiters()
    running = start_sandbox(time_scale=100.0, options={"cohort_job_latency": 0.5})
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
    first = config(fast)["start_date"]
    assert f"day {first} alone returned 3 rows, the record limit" in str(run.error)
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

    from tests.test_airbyte_protocol import airbyte, configured

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
