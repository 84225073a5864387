"""Which apps each stream family reads: one resolver (`tap_branch.config.apps`), one rule, per family.

The config of issue 11 (`app_id: "111"` beside `apps: [{app_id: "222"}, {branch_key: "key_b"}]`)
used to be read four ways. Now the flat `app_id` naming no entry is a contradiction every family
refuses before any request; without it, v1 families read both apps (the second under its
branch_key) and v2 per-app families refuse the app they cannot name.
"""

from __future__ import annotations

import datetime as dt

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.config.apps import check_apps, configured_apps, default_app_id, v2_app_ids
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SECOND,
    SandboxControl,
    utc_today,
)
from tests.support.tap_runner import run_tap

USER_ID = "dashboard_user_sandbox"

#: One stream of every family, by family.
FAMILIES = {
    "daily v1": "links",
    "daily v3": "daily_eo_click",
    "credits": "credit_history",
    "app_config": "app_config",
    "cohort": "cohort_installs_by_campaign",
    "custom exports": "custom_eo_click",
    "scheduled exports": "scheduled_export_jobs",
    "query": "query_installs",
}
V1_FAMILIES = ("daily v1", "daily v3", "credits", "query")
V2_PER_APP_FAMILIES = ("app_config", "custom exports", "scheduled exports")

ISSUE_APPS = [
    {"app_id": "222", "branch_key": "key_live_a", "branch_secret": "secret_live_a"},
    {"branch_key": "key_b", "branch_secret": "secret_live_b"},
]


def test_the_resolver_on_the_issue_config():
    config = {"app_id": "111", "apps": ISSUE_APPS}
    with pytest.raises(ConfigValidationError, match=r"'app_id' \(111\) is none of the 'apps'"):
        check_apps(config)
    listed = {"apps": ISSUE_APPS}
    check_apps(listed)
    assert [app.app_id for app in configured_apps(listed)] == ["222", "key_b"]
    with pytest.raises(ConfigValidationError, match="'apps' entries with branch_key 'key_b'"):
        v2_app_ids(listed)
    assert default_app_id(listed) is None
    assert default_app_id({"app_id": "222", "apps": ISSUE_APPS}) == "222"
    assert default_app_id({"apps": ISSUE_APPS[:1]}) == "222"
    assert v2_app_ids({"apps": ISSUE_APPS[:1]}) == ["222"]
    assert v2_app_ids({"app_id": "111"}) == ["111"]


def test_contradictions_are_config_errors():
    with pytest.raises(ConfigValidationError, match="'branch_key' is none of the 'apps'"):
        check_apps({"branch_key": "key_live_other", "apps": ISSUE_APPS})
    with pytest.raises(ConfigValidationError, match="entries 1 and 2 have the same app_id '222'"):
        check_apps({"apps": [ISSUE_APPS[0], {**ISSUE_APPS[0], "branch_key": "key_live_c"}]})
    # The flat settings repeating one of the entries say the same thing: no contradiction.
    check_apps({"app_id": "222", "branch_key": "key_live_a", "apps": ISSUE_APPS})


def _config(control: SandboxControl, apps: list[dict], **extra) -> dict:
    return {
        "start_date": "2024-01-01",
        "apps": apps,
        "access_token": "api_app_sandbox",
        "user_id": USER_ID,
        "credit_identities": ["user-3"],
        "api_url": control.url,
        "api2_url": control.url,
        "backoff_factor": 0.05,
        "custom_exports_poll_seconds": 0.1,
        **extra,
    }


def _api_requests(control: SandboxControl) -> list[dict]:
    return [r for r in control.requests_log() if not r["path"].startswith("/_sandbox/")]


@pytest.mark.parametrize("family", FAMILIES)
def test_issue_config_is_refused_by_every_family_before_any_request(two_app_sandbox, family):
    config = _config(two_app_sandbox, ISSUE_APPS, app_id="111")
    with pytest.raises(ConfigValidationError) as raised:
        run_tap(config, select=[FAMILIES[family]])
    assert "'app_id' (111)" in str(raised.value) and "222" in str(raised.value)
    assert _api_requests(two_app_sandbox) == []


# An app with an app_id and one known only by its branch_key (the second sandbox app).
MIXED = [
    {"app_id": SANDBOX_APP, "branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET},
    {"branch_key": SECOND.branch_key, "branch_secret": SECOND.branch_secret},
]


@pytest.mark.parametrize("family", V1_FAMILIES)
def test_v1_families_read_every_app_the_keyed_one_under_its_branch_key(two_app_sandbox, family):
    stream = FAMILIES[family]
    config = _config(two_app_sandbox, MIXED, start_date=_days_ago(2))
    run = run_tap(config, select=[stream])
    partitions = run.state["bookmarks"][stream]["partitions"]
    assert run.error is None
    assert [p["context"]["app_id"] for p in partitions] == [SANDBOX_APP, SECOND.branch_key]
    assert {r["app_id"] for r in run.records(stream)} == {SANDBOX_APP, SECOND.branch_key}


@pytest.mark.parametrize("family", V2_PER_APP_FAMILIES)
def test_v2_per_app_families_refuse_an_app_without_app_id(two_app_sandbox, family):
    run = run_tap(_config(two_app_sandbox, MIXED), select=[FAMILIES[family]], expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    assert f"branch_key '{SECOND.branch_key}'" in str(run.error)
    assert FAMILIES[family] in str(run.error)
    assert _api_requests(two_app_sandbox) == []


def test_cohort_is_scoped_by_the_one_app_or_refuses_to_guess(two_app_sandbox):
    run = run_tap(_config(two_app_sandbox, MIXED), select=[FAMILIES["cohort"]], expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    assert "'organization_id' or 'app_id'" in str(run.error)
    assert _api_requests(two_app_sandbox) == []
    one = run_tap(
        _config(two_app_sandbox, MIXED[:1], start_date=_days_ago(3)), select=[FAMILIES["cohort"]]
    )
    assert one.error is None
    records = one.records(FAMILIES["cohort"])
    assert records and {r["app_id"] for r in records} == {SANDBOX_APP}


def _days_ago(days: int) -> str:
    return (utc_today() - dt.timedelta(days=days)).isoformat()
