"""Query API streams (`query_<name>`) against the sandbox's Query API, whose numbers are
computed from its own event tables: values, time zones, paging, rate limits, the settling
window and late corrections."""

from __future__ import annotations

import collections
import csv
import datetime as dt
import gzip
import io
import json
import zoneinfo

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from tap_branch import clock
from tap_branch.api import ratelimit
from tap_branch.config.connection import verdict
from tap_branch.streams import analytics
from tap_branch.streams.analytics import catalog
from tap_branch.tap import TapBranch
from tests.support.sandbox import (
    NOW,
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SandboxControl,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import run_tap

CAMPAIGN = "last_attributed_touch_data_tilde_campaign"
BY_CAMPAIGN = {
    "name": "installs_by_campaign",
    "data_source": "eo_install",
    "aggregation": "unique_count",
    "dimensions": [CAMPAIGN],
}
STREAM = "query_installs_by_campaign"
TIME_SCALE = 100.0


@pytest.fixture
def fast() -> SandboxControl:
    running = start_sandbox(time_scale=TIME_SCALE)
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


def config(sandbox: SandboxControl, **extra) -> dict:
    """Query API settings with the documented limits, scaled like the sandbox's time."""
    return {
        "start_date": (utc_today() - dt.timedelta(days=10)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "app_id": SANDBOX_APP,
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
        "backoff_factor": 0.05,
        "query_reports": [BY_CAMPAIGN],
        "query_rate_limits": [
            {"requests": 5, "seconds": 1 / TIME_SCALE},
            {"requests": 20, "seconds": 60 / TIME_SCALE},
            {"requests": 150, "seconds": 3600 / TIME_SCALE},
        ],
        **extra,
    }


def query_calls(sandbox: SandboxControl) -> list[dict]:
    return [r for r in sandbox.sandbox.request_log if r["path"] == "/v1/query/analytics"]


def v3_installs(sandbox: SandboxControl, utc_day: dt.date) -> list[dict]:
    """The sandbox's own install events of a UTC day, as Daily Exports v3 serves them."""
    answer = requests.post(
        f"{sandbox.url}/v3/export",
        json={
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "export_date": utc_day.isoformat(),
        },
        timeout=30,
    )
    answer.raise_for_status()
    rows = []
    for url in answer.json()["eo_install"]:
        data = gzip.decompress(requests.get(url, timeout=30).content).decode()
        rows.extend(csv.DictReader(io.StringIO(data)))
    return rows


def expected_unique_installs(sandbox, day: dt.date, zone: str) -> dict:
    """Distinct users installing on the dashboard day `day` by campaign, from the v3 rows."""
    tz = zoneinfo.ZoneInfo(zone)
    users = collections.defaultdict(set)
    for utc_day in (day - dt.timedelta(days=1), day, day + dt.timedelta(days=1)):
        for row in v3_installs(sandbox, utc_day):
            moment = dt.datetime.fromtimestamp(int(row["timestamp"]) / 1000, dt.timezone.utc)
            if moment.astimezone(tz).date() == day:
                user = row["user_data_developer_identity"] or row["id"]
                users[row[CAMPAIGN] or None].add(user)
    return {campaign: len(found) for campaign, found in users.items()}


# --- reports ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("report", "named"),
    [
        ({**BY_CAMPAIGN, "data_source": "eo_installs"}, "field 'data_source'"),
        ({**BY_CAMPAIGN, "aggregation": "uniques"}, "field 'aggregation'"),
        ({**BY_CAMPAIGN, "dimensions": ["user_data_os"] * 2}, "field 'dimensions'"),
        (
            {**BY_CAMPAIGN, "dimensions": [CAMPAIGN, "user_data_oss"]},
            "did you mean 'user_data_os'",
        ),
        (
            {
                **BY_CAMPAIGN,
                "dimensions": sorted(catalog.DIMENSIONS)[:12],
            },
            "exceed the limit of 11",
        ),
        ({**BY_CAMPAIGN, "filters": {"!user_data_oss": ["IOS"]}}, "field 'filters'"),
        ({**BY_CAMPAIGN, "granularity": "all"}, "field 'granularity'"),
        ({**BY_CAMPAIGN, "filters": {"user_data_os": []}}, "field 'filters.user_data_os'"),
        (
            {
                **BY_CAMPAIGN,
                "data_source": "xx_click",
                "dimensions": ["user_data_os", "user_data_geo_country_code"],
            },
            "Branch refuses user_data_os together with user_data_geo_country_code",
        ),
    ],
)
def test_an_invalid_report_fails_at_start_naming_the_report_and_field(report, named):
    config = {"start_date": "2026-03-01", "query_reports": [report]}
    with pytest.raises(ConfigValidationError) as raised:
        TapBranch(config=config, parse_env_config=False)
    message = str(raised.value.errors or raised.value)
    assert "query_reports[0] ('installs_by_campaign')" in message
    assert named in message


def test_a_time_zone_for_an_app_not_configured_fails_naming_the_setting(fast):
    """A mistyped app id would read that app in the default zone: the buckets' midnight check
    only catches it where the two zones' offsets differ (London and UTC agree all winter)."""
    settings = config(fast, dashboard_time_zones={"sandbox-ap": "Europe/London"})
    with pytest.raises(ConfigValidationError) as raised:
        TapBranch(config=settings, parse_env_config=False)
    message = str(raised.value.errors or raised.value)
    assert "dashboard_time_zones" in message
    assert "'sandbox-ap'" in message and SANDBOX_APP in message


def test_an_unknown_time_zone_fails_naming_the_setting():
    config = {"start_date": "2026-03-01", "dashboard_time_zones": {"a": "Mars/Olympus"}}
    with pytest.raises(ConfigValidationError, match="dashboard_time_zones.a"):
        TapBranch(config=config, parse_env_config=False)


# --- values ------------------------------------------------------------------------


@pytest.mark.parametrize("zone", ["Asia/Tokyo", "America/Los_Angeles", "UTC"])
def test_unique_installs_by_campaign_equal_the_sandboxs_own_events(fast, zone):
    """Both sides of UTC: a dashboard day spans two UTC days, and the records carry it."""
    day = utc_today() - dt.timedelta(days=3)
    fast.options(query_time_zones={SANDBOX_APP: zone})
    run = run_tap(
        config(
            fast,
            start_date=day.isoformat(),
            end_date=day.isoformat(),
            dashboard_time_zone=zone,
        ),
        select=[STREAM],
    )
    records = run.records(STREAM)
    assert {r["date"] for r in records} == {day.isoformat()}
    midnight = dt.datetime(day.year, day.month, day.day, tzinfo=zoneinfo.ZoneInfo(zone))
    assert {r["timestamp"] for r in records} == {midnight.astimezone(dt.timezone.utc).isoformat()}
    assert all(json.loads(r["dimension_values"]) == [r[CAMPAIGN]] for r in records)
    got = {r[CAMPAIGN]: r["unique_count"] for r in records}
    expected = expected_unique_installs(fast, day, zone)
    assert got == expected
    assert None in got and len(got) > 3  # unattributed installs and several campaigns


def test_a_filter_on_a_boolean_dimension_takes_yaml_booleans(fast):
    """`filters: {deep_linked: [true]}` in meltano.yml is a YAML boolean; Branch's filter
    values are strings."""
    report = {**BY_CAMPAIGN, "dimensions": ["deep_linked"], "filters": {"deep_linked": [True]}}
    run = run_tap(config(fast, query_reports=[report]), select=[STREAM])
    values = {r["deep_linked"] for r in run.records(STREAM)}
    assert values == {True}
    unfiltered = run_tap(config(fast, query_reports=[{**report, "filters": {}}]), select=[STREAM])
    assert {r["deep_linked"] for r in unfiltered.records(STREAM)} > {True}


def test_a_wrong_dashboard_time_zone_fails_naming_the_setting(fast):
    fast.options(query_time_zones={SANDBOX_APP: "America/Los_Angeles"})
    run = run_tap(config(fast), select=[STREAM], expect_error=True)
    assert run.error is not None
    assert "not a midnight in UTC" in str(run.error)
    assert "dashboard_time_zones" in str(run.error)
    assert run.state.get("bookmarks", {}).get(STREAM) is None


# --- paging -------------------------------------------------------------------------


def test_every_page_is_followed_and_gives_the_same_rows(fast):
    whole = run_tap(config(fast), select=[STREAM])
    pages_before = len(query_calls(fast))
    paged = run_tap(config(fast, query_page_limit=2), select=[STREAM])
    calls = query_calls(fast)[pages_before:]
    per_day = collections.Counter(r["date"] for r in whole.records(STREAM))
    assert max(per_day.values()) > 2  # a day of more than one page of 2 rows
    assert len(calls) > pages_before  # so more calls: the pages of each window followed
    key = lambda r: (r["date"], r[CAMPAIGN] or "")  # noqa: E731
    assert sorted(whole.records(STREAM), key=key) == sorted(paged.records(STREAM), key=key)
    assert fast.sandbox.state.get("rate_limited", {}).get("query", 0) == 0  # no 429


def test_pages_that_do_not_add_up_fail_naming_the_window(fast):
    fast.fault(
        kind="status",
        status=200,
        path="/v1/query/analytics",
        body={"results": [], "paging": {"total_count": 5}},
        times=-1,  # the first run's probe asks first
    )
    run = run_tap(config(fast), select=[STREAM], expect_error=True)
    message = str(run.error)
    first = utc_today() - dt.timedelta(days=10)
    assert f"window {first}..{first + dt.timedelta(days=6)}" in message
    assert "paging.total_count is 5" in message
    assert run.state.get("bookmarks", {}).get(STREAM) is None


def test_a_window_at_branchs_row_cap_is_asked_again_in_halves(fast, monkeypatch):
    """Branch returns at most 50,000 rows a query (per query, and silently, the sandbox's
    harsher reading): pages that add up to a cut total_count must not pass as complete."""
    whole = run_tap(config(fast), select=[STREAM])
    per_day = collections.Counter(r["date"] for r in whole.records(STREAM))
    cap = max(per_day.values()) + 1  # a day fits, a 7-day window does not
    fast.options(query_row_cap=cap)
    monkeypatch.setattr(catalog, "ROW_CAP", cap)
    halved = run_tap(config(fast), select=[STREAM])
    key = lambda r: (r["date"], r["dimension_values"])  # noqa: E731
    assert sorted(halved.records(STREAM), key=key) == sorted(whole.records(STREAM), key=key)
    assert "reach Branch's cap" in halved.logs
    assert halved.state["bookmarks"] == whole.state["bookmarks"]


def test_a_single_day_at_the_row_cap_fails_naming_the_day(fast, monkeypatch):
    fast.options(query_row_cap=2)
    monkeypatch.setattr(catalog, "ROW_CAP", 2)
    run = run_tap(config(fast), select=[STREAM], expect_error=True)
    first = utc_today() - dt.timedelta(days=10)
    assert f"rows of {first} may be cut off" in str(run.error)
    assert run.state.get("bookmarks", {}).get(STREAM) is None


def test_no_window_is_longer_than_seven_days(fast):
    start = utc_today() - dt.timedelta(days=40)
    run = run_tap(config(fast, start_date=start.isoformat()), select=[STREAM])
    days = {r["date"] for r in run.records(STREAM)}
    assert min(days) == start.isoformat()
    assert max(days) == (utc_today() - dt.timedelta(days=1)).isoformat()
    firsts = [r for r in query_calls(fast) if r["status"] == 200]
    assert len(firsts) >= 6  # 40 days: 6 windows of at most 7 days (the sandbox refuses more)


# --- rate limits --------------------------------------------------------------------


@pytest.mark.parametrize("body_status", [400, 200])
def test_a_429_storm_is_waited_out(fast, monkeypatch, body_status):
    """A 429, and Branch's body with any other status (Branch documents the body, not the
    status; with a 200 it is not a malformed answer that stops the run)."""
    waits: list[float] = []
    monkeypatch.setattr(ratelimit, "sleep", waits.append)
    calm = run_tap(config(fast), select=[STREAM])
    fast.fault(kind="rate_limit", path="/v1/query/analytics", retry_after=40, times=6)
    fast.fault(
        kind="status",
        status=body_status,
        path="/v1/query/analytics",
        times=2,
        body={
            "errors": [
                {"message": "Limit is exceeded for org-1, retry after 30 seconds", "error_code": 7}
            ]
        },
    )
    stormy = run_tap(config(fast), select=[STREAM])
    assert stormy.records(STREAM) == calm.records(STREAM)
    assert sorted(round(w, 1) for w in waits if w >= 30) == [30.5] * 2 + [40.5] * 6
    assert [r["status"] for r in query_calls(fast)].count(429) == 6


def test_a_run_that_will_not_fit_the_hour_says_so_up_front(fast, caplog):
    start = utc_today() - dt.timedelta(days=700)
    reports = [{**BY_CAMPAIGN, "name": f"r{n}"} for n in range(3)]
    tap = TapBranch(
        config=config(fast, start_date=start.isoformat(), query_reports=reports)
        | {"query_rate_limits": None},
        parse_env_config=False,
    )
    caplog.set_level("INFO")
    tap.streams["query_r0"]._announce_run()
    # 700 days: 100 windows per report, 300 calls at least; Branch allows 150 an hour
    assert "about 300 calls needed but the rate limits allow 150 in the next hour" in caplog.text
    assert "at least 1.0 hours" in caplog.text


def test_a_start_beyond_two_years_is_clamped_with_a_warning(fast):
    start = utc_today() - dt.timedelta(days=800)
    run = run_tap(
        config(
            fast, start_date=start.isoformat(), end_date=(start + dt.timedelta(days=90)).isoformat()
        ),
        select=[STREAM],
    )
    assert run.error is None
    assert "beyond Branch's rolling 2-year Query API window" in run.logs
    # a day's margin, as cohorts: Branch's "today" may be UTC's, or midnight may pass before
    # the first call (the hour's budget spent by earlier reports)
    oldest = utc_today().replace(year=utc_today().year - 2) + dt.timedelta(days=1)
    assert min(r["date"] for r in run.records(STREAM)) == oldest.isoformat()


def test_the_two_year_clamp_holds_west_of_utc_after_utc_midnight(fast):
    """At 02:00 UTC it is still yesterday in Los Angeles: the clamp computed from the dashboard
    day alone asked for a day Branch's rolling window (in UTC) no longer holds."""
    clock.set_now(dt.datetime.combine(utc_today(), dt.time(2), dt.timezone.utc))
    zone = "America/Los_Angeles"
    fast.options(query_time_zones={SANDBOX_APP: zone})
    start = utc_today() - dt.timedelta(days=800)
    run = run_tap(
        config(
            fast,
            start_date=start.isoformat(),
            end_date=(start + dt.timedelta(days=80)).isoformat(),
            dashboard_time_zone=zone,
        ),
        select=[STREAM],
        expect_error=True,
    )
    assert run.error is None
    assert "beyond Branch's rolling 2-year Query API window" in run.logs
    utc_oldest = utc_today().replace(year=utc_today().year - 2)
    assert min(r["date"] for r in run.records(STREAM)) > utc_oldest.isoformat()


# --- settling window and late corrections ------------------------------------------


def test_a_second_run_rereads_only_the_settling_window(fast):
    first = run_tap(
        config(fast, start_date=(utc_today() - dt.timedelta(days=30)).isoformat()), select=[STREAM]
    )
    settled = utc_today() - dt.timedelta(days=8)
    bookmark = first.state["bookmarks"][STREAM]["partitions"][0]["replication_key_value"]
    assert bookmark == settled.isoformat()
    before = len(query_calls(fast))
    second = run_tap(
        config(fast, start_date=(utc_today() - dt.timedelta(days=30)).isoformat()),
        state=first.state,
        select=[STREAM],
    )
    days = sorted({r["date"] for r in second.records(STREAM)})
    assert days == [(settled + dt.timedelta(days=n)).isoformat() for n in range(1, 8)]
    assert len(query_calls(fast)) - before == 1  # one 7-day window, one page
    assert second.state["bookmarks"][STREAM] == first.state["bookmarks"][STREAM]


def test_late_corrections_are_picked_up_a_day_later(fast):
    total = {**BY_CAMPAIGN, "name": "install_events", "aggregation": "total_count"}
    fast.options(query_late_events=3)
    settings = config(fast, query_reports=[total])
    first = run_tap(settings, select=["query_install_events"])
    yesterday = (utc_today() - dt.timedelta(days=1)).isoformat()

    def totals(run) -> dict:
        sums = collections.Counter()
        for record in run.records("query_install_events"):
            sums[record["date"]] += record["total_count"]
        return sums

    # a day later, on both clocks
    clock.set_now(NOW + dt.timedelta(days=1))
    fast.advance_days(1)
    second = run_tap(settings, state=first.state, select=["query_install_events"])
    assert totals(second)[yesterday] == totals(first)[yesterday] + 3
    older = (utc_today() - dt.timedelta(days=2)).isoformat()
    assert totals(second)[older] == totals(first)[older]  # its late events were already in


# --- Airbyte ------------------------------------------------------------------------


def test_the_airbyte_source_reads_the_query_streams_like_the_singer_tap(fast, tmp_path):
    from airbyte_protocol.models import Type

    from tests.e2e.airbyte.test_protocol import airbyte, configured

    settings = config(fast)
    discovered = airbyte("discover", files={"--config": settings}, tmp_path=tmp_path)
    (message,) = discovered.of(Type.CATALOG)
    catalog = message.catalog.model_dump(mode="json", exclude_none=True)
    stream = next(s for s in catalog["streams"] if s["name"] == STREAM)
    assert stream["default_cursor_field"] == ["date"]
    assert stream["source_defined_primary_key"] == [
        ["report"],
        ["app_id"],
        ["date"],
        ["dimension_values"],
    ]
    chosen = configured(catalog, (STREAM,))
    read = airbyte("read", files={"--config": settings, "--catalog": chosen}, tmp_path=tmp_path)
    assert read.returncode == 0, read.raw[-2000:]
    singer = run_tap(settings, select=[STREAM])
    key = lambda r: (r["date"], r[CAMPAIGN] or "")  # noqa: E731
    assert sorted((m.record.data for m in read.of(Type.RECORD)), key=key) == sorted(
        singer.records(STREAM), key=key
    )
    last = read.states()[-1]
    assert last["stream"]["stream_state"] == {STREAM: singer.state["bookmarks"][STREAM]}
    again = airbyte(
        "read",
        files={"--config": settings, "--catalog": chosen, "--state": [last]},
        tmp_path=tmp_path,
    )
    assert again.returncode == 0, again.raw[-2000:]
    settled = utc_today() - dt.timedelta(days=8)
    assert {m.record.data["date"] for m in again.of(Type.RECORD)} == {
        (settled + dt.timedelta(days=n)).isoformat() for n in range(1, 8)
    }


def test_the_probe_asks_one_day_of_each_app_and_names_a_refused_secret(fast):
    def family_probes(**extra):
        tap = TapBranch(config=config(fast, **extra), parse_env_config=False)
        return analytics.probes(tap, list(tap.streams.values()), first_run=False)

    assert [verdict(probe) for probe in family_probes()] == [
        f"branch_key/branch_secret of app {SANDBOX_APP}: accepted (the Query API probe of app "
        f"{SANDBOX_APP})"
    ]
    assert [r["status"] for r in query_calls(fast)] == [200]
    [probe] = family_probes(branch_secret="wrong")
    with pytest.raises(ConfigValidationError) as refused:
        verdict(probe)
    assert "Query API probe of app sandbox-app" in str(refused.value)
    assert "check settings 'branch_key' and 'branch_secret'" in str(refused.value)
