"""The connection test (`tap-branch --test`, Airbyte's `check`): one cheap read per credential,
a refused credential named by its setting, never an export job."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.config.connection import Unavailable, verdict
from tap_branch.config.connection import test_connection as connection_test
from tap_branch.config.probes import Probe
from tap_branch.errors import RequestRejected
from tap_branch.tap import TapBranch
from tap_branch_sandbox.credits import DEFAULT_USER_ID
from tap_branch_sandbox.server import SandboxApp
from tests.support import ROOT
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SandboxControl,
    start_sandbox,
)
from tests.support.tap_runner import run_cli_test, run_tap, select_only

#: Paths that create or poll export jobs, or read export data: never part of a connection test.
JOB_PATHS = ("/v2/logs", "/v2/analytics", "/files/", "/job")


def _tap(config: dict) -> TapBranch:
    return TapBranch(config=config, parse_env_config=False)


def _api_requests(sandbox: SandboxControl) -> list[str]:
    return [
        f"{r['method']} {r['path']}"
        for r in sandbox.requests_log()
        if not r["path"].startswith("/_sandbox")
    ]


def _no_jobs(sandbox: SandboxControl) -> None:
    assert not [c for c in _api_requests(sandbox) if any(p in c for p in JOB_PATHS)]


def test_one_cheap_call_per_family_and_no_job(sandbox, base_config):
    """Each selected family asks its own API: daily the file list of v1 and of v3, scheduled
    exports its subscriptions, credits its app config, the Query API one day of its default
    report; cohort has no read-only call and asks nothing."""
    accepted = connection_test(_tap(base_config)).accepted
    assert [line.split(":")[0] for line in accepted] == [
        *[f"branch_key/branch_secret of app {SANDBOX_APP}"] * 2,
        "access_token",
        *[f"branch_key/branch_secret of app {SANDBOX_APP}"] * 2,
    ]
    calls = _api_requests(sandbox)
    assert sorted(calls) == [
        "GET /scheduled-exports/logs/subscriptions",
        f"GET /v1/app/{SANDBOX_KEY}",
        f"GET /v1/export/{SANDBOX_KEY}",
        "POST /v1/query/analytics",
        "POST /v3/export",
    ], calls
    _no_jobs(sandbox)


def test_user_id_is_tried_where_app_config_uses_it(sandbox, base_config):
    """app_config reads an app with its key and secret when it has them, else with user_id."""
    legacy = {k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret")}
    accepted = connection_test(_tap({**legacy, "user_id": DEFAULT_USER_ID})).accepted
    assert [line.split(":")[0] for line in accepted] == ["access_token", "user_id"]
    assert f"GET /v1/app/{SANDBOX_APP}" in _api_requests(sandbox)
    sandbox.clear_requests()
    # with the app's key and secret, user_id is not what app_config sends: nothing to try
    accepted = connection_test(_tap({**base_config, "user_id": DEFAULT_USER_ID})).accepted
    assert "user_id" not in [line.split(":")[0] for line in accepted]
    _no_jobs(sandbox)


@pytest.mark.parametrize(
    ("setting", "wrong"),
    [
        ("branch_secret", "secret_live_WRONG"),
        ("branch_key", "key_live_WRONG"),
        ("access_token", "api_app_WRONG"),
        ("user_id", "dashboard_user_WRONG"),
    ],
)
def test_a_refused_credential_is_named_not_shown(sandbox, base_config, setting, wrong):
    config = {**base_config, setting: wrong}
    if setting == "user_id":  # tried for an app without its own key and secret
        config = {k: v for k, v in config.items() if k not in ("branch_key", "branch_secret")}
    with pytest.raises(ConfigValidationError) as raised:
        connection_test(_tap(config))
    message = " ".join(raised.value.errors)
    assert f"'{setting}'" in message
    assert "Branch refused the credential" in message
    if setting != "branch_key":  # the key is public; the secrets never show
        assert wrong not in message
    _no_jobs(sandbox)


def test_each_app_is_tried_with_its_own_secret():
    second = SandboxApp("second-app", "key_live_second", "secret_live_second_app")
    running = start_sandbox(extra_apps=[second])
    try:
        control = SandboxControl(running)
        apps = [
            {"app_id": SANDBOX_APP, "branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET},
            {"app_id": second.app_id, "branch_key": second.branch_key, "branch_secret": "wrong"},
        ]
        config = {
            "start_date": "2024-01-01",
            "apps": apps,
            "api_url": control.url,
            "api2_url": control.url,
        }
        with pytest.raises(ConfigValidationError) as raised:
            connection_test(_tap(config))
        assert "'apps' entry of app second-app" in " ".join(raised.value.errors)
        apps[1]["branch_secret"] = second.branch_secret
        # each app's daily file list (v1 and v3) and Query API day, and app_config's read of
        # the first app
        assert len(connection_test(_tap(config)).accepted) == 7
    finally:
        running.stop()


def test_an_app_config_branch_does_not_give_is_not_called_accepted(sandbox):
    config = {
        "start_date": "2024-01-01",
        "app_id": "not-an-app-of-this-account",
        "user_id": DEFAULT_USER_ID,
        "api_url": sandbox.url,
    }
    (line,) = connection_test(_tap(config)).accepted
    assert line.startswith("user_id: not verified")


def test_unreachable_branch_names_the_url_setting(base_config):
    config = {**base_config, "api_url": "http://127.0.0.1:9", "max_retries": 1}
    with pytest.raises(ConfigValidationError) as raised:
        connection_test(_tap(config))
    assert "'api_url'" in " ".join(raised.value.errors)


def test_no_credential_at_all_is_an_error():
    with pytest.raises(ConfigValidationError, match="No credential to test"):
        connection_test(_tap({"start_date": "2024-01-01"}))


def test_cli_test_runs_the_connection_test_only(sandbox, base_config, tmp_path):
    """`tap-branch --test` used to sync one record of all 54 streams, creating export jobs."""
    result = run_cli_test(base_config, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Connection test: access_token: accepted" in result.stderr
    assert result.stdout == ""
    calls = _api_requests(sandbox)
    assert len(calls) == 5, calls
    assert not [c for c in calls if any(p in c for p in JOB_PATHS)]


def test_cli_test_fails_naming_the_setting_without_traceback(sandbox, base_config, tmp_path):
    result = run_cli_test({**base_config, "access_token": "api_app_WRONG"}, tmp_path)
    assert result.returncode == 1
    assert "Connection test failed" in result.stderr and "'access_token'" in result.stderr
    assert "Traceback" not in result.stderr
    assert "api_app_WRONG" not in result.stderr


# --- a sync without state (a first run; `meltano config test`) tries them first ---------

#: Paths that create export jobs (Custom Exports and its readiness check, cohorts).
JOB_CREATING = ("/v2/logs", "/v2/data", "/v2/analytics")


def _shipped_selection(stream_names) -> list[str]:
    """The streams the `select:` rules of this repository's meltano.yml take, as Meltano applies them."""
    import fnmatch

    import yaml

    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    [tap] = project["plugins"]["extractors"]
    patterns = [rule.split(".")[0] for rule in tap["select"]]
    return [name for name in stream_names if any(fnmatch.fnmatch(name, p) for p in patterns)]


@pytest.mark.parametrize(
    ("setting", "wrong"),
    [
        ("branch_secret", "secret_live_WRONG"),
        ("access_token", "api_app_WRONG"),
        ("user_id", "dashboard_user_WRONG"),
    ],
)
def test_a_first_sync_fails_on_a_wrong_credential_before_any_record_or_job(
    sandbox, base_config, setting, wrong
):
    config = {**base_config, setting: wrong}
    select = _shipped_selection(_tap(base_config).streams)
    if setting == "user_id":  # Branch's legacy app_config form: no key and secret
        config = {k: v for k, v in config.items() if k not in ("branch_key", "branch_secret")}
        select = [name for name in select if name.startswith(("cohort_", "app_config"))]
    run = run_tap(config, select=select, expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    assert f"'{setting}'" in str(run.error)
    assert wrong not in str(run.error) + run.logs + run.raw_output
    assert run.streams_with_records == set()
    calls = _api_requests(sandbox)
    assert calls and not [c for c in calls if any(p in c for p in JOB_CREATING)], calls


def test_a_first_sync_with_right_credentials_asks_nothing_more(sandbox, base_config):
    """The daily streams ask the same day anyway, and scheduled_export_jobs the same
    subscriptions: on a state-less run the credentials cost no extra request."""
    select = ["links", "scheduled_export_jobs"]
    run = run_tap(base_config, select=select)
    assert run.error is None and {"links", "scheduled_export_jobs"} <= run.streams_with_records
    calls = _api_requests(sandbox)
    assert calls.count("GET /scheduled-exports/logs/subscriptions") == 1, calls
    days = [c for c in calls if c.startswith(f"GET /v1/export/{SANDBOX_KEY}")]
    assert len(days) == 3, calls  # start_date is 3 days back: each day asked once
    # with state, nothing is tried first
    sandbox.clear_requests()
    again = run_tap(base_config, state=run.state, select=["links"])
    assert again.error is None and _api_requests(sandbox) == []


def test_cli_schema_test_reports_a_bad_config_without_traceback(tmp_path):
    """`--test=schema` is the SDK's; its config error used to end in a traceback that did not
    say what was wrong."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"start_date": "2024-01-01", "branch_secret": 5}))
    result = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", str(path), "--test=schema"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Schema test failed" in result.stderr and "config['branch_secret']" in result.stderr
    assert "Traceback" not in result.stderr


def _schemas_of_the_schema_test(tmp_path, config: dict, catalog: dict | None = None) -> dict:
    """`tap-branch --config ... [--catalog ...] --test=schema` in its own process: the schema
    of each stream it prints, by stream."""
    (tmp_path / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_branch.tap", "--config", str(tmp_path / "config.json")]
    if catalog is not None:
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        command += ["--catalog", str(tmp_path / "catalog.json")]
    result = subprocess.run(
        [*command, "--test=schema"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return {
        m["stream"]: m["schema"]
        for m in map(json.loads, result.stdout.splitlines())
        if m["type"] == "SCHEMA"
    }


def test_cli_schema_test_of_a_good_config_prints_the_schemas(base_config, tmp_path):
    schemas = _schemas_of_the_schema_test(tmp_path, base_config)
    # Every stream's whole schema, the opt-in ones too (Custom Exports, credits): the SDK's
    # stream maps had cut theirs to no property, as for a stream not selected.
    catalog = TapBranch(config=base_config, parse_env_config=False).catalog_dict
    assert schemas == {e["tap_stream_id"]: e["schema"] for e in catalog["streams"]}
    assert schemas["custom_eo_install"]["properties"] and schemas["credit_history"]["properties"]


def test_cli_schema_test_with_a_catalog_prints_the_deselected_streams_whole_schemas(
    base_config, tmp_path
):
    """The catalog file's deselected entries are read without their schemas
    (`catalog_checks.catalog_file`); `--test=schema` selects every stream, and each still
    gets its whole schema."""
    catalog = select_only(
        TapBranch(config=base_config, parse_env_config=False).catalog_dict, ["links"]
    )
    schemas = _schemas_of_the_schema_test(tmp_path, base_config, catalog)
    assert schemas == {e["tap_stream_id"]: e["schema"] for e in catalog["streams"]}


def _answered(status: int, detail: str) -> Probe:
    def call() -> None:
        raise RequestRejected(f"HTTP {status}: {detail}", status, detail)

    return Probe(
        credential="access_token",
        setting="setting 'access_token'",
        asks="the jobs of subscription s1",
        call=call,
        product="Scheduled Log Exports",
        avoid="deselect the streams scheduled_export_jobs",
    )


@pytest.mark.parametrize(
    "detail",
    [
        "Forbidden",
        "You do not have permission to access Scheduled Log Exports",
        "Scheduled Log Exports is not enabled for this organization",
    ],
)
def test_a_403_without_branchs_auth_message_is_a_missing_product_not_a_refused_token(detail):
    """Only Branch's refusal of the credential (401, its auth message) says 'check setting':
    a 403 that says only 'forbidden' or 'no permission' for a product is that product missing
    to this account or its user; the other families run, as issue 23 asks."""
    found = verdict(_answered(403, detail))
    assert isinstance(found, Unavailable)
    assert "or to the user of setting 'access_token'" in str(found)


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (403, "Authentication failed !"),
        (400, "Authentication failed !"),
        (401, "Forbidden"),
        (403, "Invalid or missing Access-Token"),
    ],
)
def test_branchs_refusal_of_the_credential_names_the_setting(status, detail):
    with pytest.raises(ConfigValidationError, match="check setting 'access_token'"):
        verdict(_answered(status, detail))
