"""Accounts that are not the sandbox's all-products one (`tap_branch_sandbox/profiles.py`), and
server faults on the first request of a run.

The connection test (a first run, `--test`) asks only the selected families, each its own API:
a product the account lacks stops that family only, naming it and how to run without it; a
refused credential names its setting; a server fault is reported as one, never as a setting.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import typing as t

import pytest
import requests
from singer_sdk.exceptions import ConfigValidationError

from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    SandboxControl,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import run_cli_test, run_tap

#: Sandbox seconds per real second: the documented rate limits and job latencies, run fast.
SCALE = 3600.0
COHORT = "cohort_installs_by_campaign"
SCHEDULED = ("scheduled_export_jobs", "scheduled_export_rows")


def _scaled(windows: list[tuple[int, float]], key: str) -> list[dict]:
    return [{key: limit, "seconds": seconds / SCALE} for limit, seconds in windows]


@pytest.fixture
def account(request: pytest.FixtureRequest) -> t.Iterator[SandboxControl]:
    """A time-scaled sandbox playing the profile the test is parametrized with."""
    running = start_sandbox(time_scale=SCALE, profile=request.param)
    try:
        yield SandboxControl(running)
    finally:
        running.stop()


def _config(control: SandboxControl, days: int = 2, **extra: t.Any) -> dict:
    return {
        "start_date": (utc_today() - dt.timedelta(days=days)).isoformat(),
        "branch_key": SANDBOX_KEY,
        "branch_secret": SANDBOX_SECRET,
        "access_token": SANDBOX_TOKEN,
        "app_id": SANDBOX_APP,
        "api_url": control.url,
        "api2_url": control.url,
        "backoff_factor": 0.05,
        "cohort_rate_limits": _scaled([(2, 1), (5, 60), (150, 3600)], "requests"),
        "cohort_poll_interval": 2 / SCALE,
        "cohort_poll_max_interval": 20 / SCALE,
        "custom_exports_poll_seconds": 0.01,
        "custom_exports_create_limits": _scaled([(10, 60), (25, 3600)], "limit"),
        "custom_exports_status_limits": _scaled([(50, 60), (1000, 3600)], "limit"),
        "custom_exports_days_limits": _scaled([(100, 3600)], "limit"),
        **extra,
    }


def _paths(control: SandboxControl) -> list[str]:
    return [r["path"] for r in control.requests_log() if not r["path"].startswith("/_sandbox")]


# --- the sandbox plays the account -----------------------------------------------------


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        ("all-products", {"scheduled": 200, "custom": 200, "cohort": 404}),
        ("no-scheduled-exports", {"scheduled": 404, "custom": 200, "cohort": 404}),
        ("cohort-only", {"scheduled": 403, "custom": 403, "cohort": 404}),
        ("no-custom-exports", {"scheduled": 200, "custom": 403, "cohort": 404}),
    ],
    indirect=["account"],
)
def test_each_profile_answers_as_that_account(account, expected):
    token = {"Access-Token": SANDBOX_TOKEN}
    answers = {
        "scheduled": requests.get(
            f"{account.url}/scheduled-exports/logs/subscriptions",
            params={"app_id": SANDBOX_APP},
            headers=token,
            timeout=10,
        ),
        "custom": requests.post(
            f"{account.url}/v2/data/ready",
            params={"app_id": SANDBOX_APP},
            json={
                "date": "2026-03-09 00:00:00",
                "warehouse_meta_type": "EVENT",
                "topic": "eo_click",
                "app_id": SANDBOX_APP,
            },
            headers=token,
            timeout=10,
        ),
        # served by the cohort API itself: its own 404 for a job it does not know
        "cohort": requests.get(
            f"{account.url}/v2/analytics/no-such-job",
            params={"app_id": SANDBOX_APP},
            headers=token,
            timeout=10,
        ),
    }
    assert {name: answer.status_code for name, answer in answers.items()} == expected
    if expected["custom"] == 403:  # a product not enabled says so, a token refused says that
        said = answers["custom"].json()["error"]["message"]
        if "cohort-only" in str(account.sandbox.config.profile):
            assert said.startswith("Authentication failed")
        else:
            assert "not enabled" in said and "auth" not in said.lower()


def test_an_unknown_profile_is_refused():
    with pytest.raises(ValueError, match="unknown sandbox profile 'enterprise'"):
        start_sandbox(profile="enterprise")


# --- a first run asks only what its own streams need -----------------------------------


@pytest.mark.parametrize("account", ["no-scheduled-exports", "cohort-only"], indirect=True)
def test_cohort_alone_runs_on_an_account_without_scheduled_exports(account):
    config = _config(account, days=20)
    first = run_tap(config, select=[COHORT])
    assert first.error is None
    assert first.records(COHORT)
    assert not [p for p in _paths(account) if p.startswith("/scheduled-exports")]
    again = run_tap(config, state=first.state, select=[COHORT])  # with state: no check at all
    assert again.error is None


@pytest.mark.parametrize("account", ["no-scheduled-exports"], indirect=True)
def test_v3_and_custom_exports_run_on_an_account_without_scheduled_exports(account):
    config = _config(account)
    select = ["daily_eo_click", "custom_eo_click"]
    first = run_tap(config, select=select)
    assert first.error is None
    assert first.streams_with_records == set(select)
    assert not [p for p in _paths(account) if p.startswith("/scheduled-exports")]
    again = run_tap(config, state=first.state, select=select)
    assert again.error is None


@pytest.mark.parametrize(
    ("account", "selected", "product", "advice"),
    [
        (
            "no-scheduled-exports",
            ["links", *SCHEDULED],
            "Scheduled Log Exports",
            "deselect the streams scheduled_export_jobs, scheduled_export_rows",
        ),
        (
            "no-custom-exports",
            ["links", "custom_eo_click"],
            "Custom Exports",
            "deselect the streams custom_eo_click",
        ),
    ],
    indirect=["account"],
)
def test_a_product_the_account_lacks_stops_its_family_only(account, selected, product, advice):
    run = run_tap(_config(account), select=selected, expect_error=True)
    assert run.streams_with_records == {"links"}  # the other family ran to its end
    assert isinstance(run.error, ConfigValidationError)  # a selection to change: a setting
    message = str(run.error)
    assert f"{product} is not available to this account" in message
    assert advice in message
    assert "check setting 'access_token'" not in message  # the token was not refused
    assert not [p for p in _paths(account) if p.startswith("/v2/logs")]  # no export job


@pytest.mark.parametrize("account", ["no-scheduled-exports"], indirect=True)
def test_with_the_default_selection_a_missing_product_is_a_warning(account):
    config = {k: v for k, v in _config(account).items() if k != "access_token"}
    config["access_token"] = SANDBOX_TOKEN
    run = run_tap(config, select=None)
    assert run.error is None
    assert "Not run: Scheduled Log Exports is not available" in run.logs
    assert not {name for name in run.streams_with_records if name.startswith("scheduled_")}
    assert {"links", "events"} <= run.streams_with_records


@pytest.mark.parametrize("account", ["no-scheduled-exports"], indirect=True)
def test_a_family_added_to_a_bookmarked_selection_is_probed_on_its_own_first_run(account):
    """The state has bookmarks of other streams, none of the family: its first run still asks
    its probe, so a missing product is named as on a first run, not a bare 404."""
    config = _config(account)
    links = run_tap(config, select=["links"])
    assert links.error is None and links.state["bookmarks"]
    run = run_tap(
        config, state=links.state, select=["links", "scheduled_export_jobs"], expect_error=True
    )
    assert isinstance(run.error, ConfigValidationError), run.error
    assert "Scheduled Log Exports is not available to this account" in str(run.error)
    assert "deselect the streams scheduled_export_jobs" in str(run.error)


@pytest.mark.parametrize("account", ["cohort-only"], indirect=True)
@pytest.mark.parametrize("stream", ["scheduled_export_jobs", "custom_eo_click"])
def test_a_token_refused_by_a_family_is_named(account, stream):
    """A refusal of the token is a config error naming the setting, never a server fault."""
    run = run_tap(_config(account), select=[stream], expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    assert "check setting 'access_token'" in str(run.error)
    assert "not one Branch documents" not in str(run.error)
    assert run.streams_with_records == set()


@pytest.mark.parametrize("account", ["all-products"], indirect=True)
@pytest.mark.parametrize(
    "stream", ["cohort_installs_by_campaign", "aggregate_installs_by_campaign"]
)
def test_a_token_refused_by_a_family_without_a_probe_is_named_at_its_first_job(account, stream):
    """Cohort and Aggregate Exports have no read-only call: their first job is the check of
    'access_token', and a refusal there says which setting to fix, as a probe's would."""
    config = {
        **_config(account, days=10),
        "access_token": "not-the-token",
        "aggregate_reports": [
            {
                "name": "installs_by_campaign",
                "data_source": "eo_install",
                "aggregation": "unique_count",
                "dimensions": ["last_attributed_touch_data_tilde_campaign"],
            }
        ],
    }
    run = run_tap(config, select=[stream], expect_error=True)
    assert "check setting 'access_token'" in str(run.error), run.error
    assert run.streams_with_records == set()


@pytest.mark.parametrize("account", ["no-scheduled-exports"], indirect=True)
def test_cli_test_names_the_missing_product_and_passes_the_rest(account, tmp_path):
    result = run_cli_test(_config(account), tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"branch_key/branch_secret of app {SANDBOX_APP}: accepted" in result.stderr
    assert "not run: Scheduled Log Exports is not available to this account" in result.stderr
    assert "deselect the streams scheduled_export_jobs, scheduled_export_rows" in result.stderr


@pytest.mark.parametrize("account", ["all-products"], indirect=True)
def test_a_first_run_says_which_selected_streams_will_emit_nothing(account):
    run = run_tap(_config(account), select=["links", "credit_history"])
    assert run.error is None
    assert (
        "Will emit nothing: credit_history: setting 'credit_identities' lists no identities"
        in run.logs
    )


# --- server faults on the first request are server faults ------------------------------

PROXY_PAGE = (
    "<html><head><title>503 Service Unavailable</title></head><body>upstream down</body></html>"
)

FIRST_REQUEST_FAULTS = {
    "503 page of a proxy": (
        {"kind": "status", "status": 503, "text": PROXY_PAGE, "times": -1},
        "503",
    ),
    "null body": ({"kind": "status", "status": 200, "body": None}, "null"),
    "error object with 200": (
        {"kind": "status", "status": 200, "body": {"error": {"message": "Internal error"}}},
        "Internal error",
    ),
    "an answer after request_timeout": ({"kind": "slow", "delay": 1.5, "times": -1}, "timed out"),
}


RETRIED = ("503 page of a proxy", "an answer after request_timeout")


def _no_setting_blamed(text: str) -> None:
    lowered = text.lower()
    assert "config" not in lowered and "check setting" not in lowered, text


@pytest.mark.parametrize("fault", list(FIRST_REQUEST_FAULTS))
@pytest.mark.parametrize("account", ["all-products"], indirect=True)
def test_a_server_fault_on_the_first_request_is_not_called_a_setting(account, fault):
    rule, came_back = FIRST_REQUEST_FAULTS[fault]
    account.fault(path="/v1/export", **rule)
    config = _config(account, request_timeout=1, max_retries=2)
    run = run_tap(config, select=["links"], expect_error=True)
    assert run.error is not None and not isinstance(run.error, ConfigValidationError)
    message = str(run.error)
    _no_setting_blamed(message)
    assert "Config validation failed" not in run.logs
    assert came_back in message and "/v1/export" in message  # what came back, and from where
    assert SANDBOX_SECRET not in message + run.logs
    assert run.streams_with_records == set()
    # a 5xx and a timeout are retried as any request is; an answer that came is not asked again
    assert ("Retrying in" in run.logs) == (fault in RETRIED)


@pytest.mark.parametrize("account", ["all-products"], indirect=True)
def test_cli_test_reports_a_server_fault_as_one(account, tmp_path):
    account.fault(path="/scheduled-exports", kind="status", status=503, text=PROXY_PAGE, times=-1)
    result = run_cli_test(_config(account, max_retries=2), tmp_path)
    assert result.returncode == 1
    [line] = [line for line in result.stderr.splitlines() if "Connection test failed" in line]
    _no_setting_blamed(line)
    assert "503" in line and "/scheduled-exports/logs/subscriptions" in line
    assert "Traceback" not in result.stderr


def _airbyte_check(config: dict, tmp_path) -> dict:
    path = tmp_path / "airbyte-config.json"
    path.write_text(json.dumps(config))
    done = subprocess.run(
        [sys.executable, "-m", "tap_branch.airbyte.cli", "check", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr  # a failed check is an answer
    [status] = [
        json.loads(line)["connectionStatus"]
        for line in done.stdout.splitlines()
        if json.loads(line).get("type") == "CONNECTION_STATUS"
    ]
    return status


@pytest.mark.parametrize("account", ["no-scheduled-exports"], indirect=True)
def test_airbyte_check_on_accounts_and_faults(account, tmp_path):
    """Airbyte's check: the missing product said, the rest accepted; a server fault FAILED
    as one, not as a setting."""
    status = _airbyte_check(_config(account), tmp_path)
    assert status["status"] == "SUCCEEDED", status
    assert "not run: Scheduled Log Exports is not available" in status["message"]
    account.fault(path="/v1/export", kind="status", status=503, text=PROXY_PAGE, times=-1)
    status = _airbyte_check(_config(account, max_retries=2), tmp_path)
    assert status["status"] == "FAILED"
    _no_setting_blamed(status["message"])
    assert "503" in status["message"] and "/v1/export" in status["message"]
