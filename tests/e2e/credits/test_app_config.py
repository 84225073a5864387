"""app_config against the sandbox: GET /v1/app/{branch_key}?branch_secret=... by default, the legacy
GET /v1/app/{app_id}?user_id=... without a secret; user_id and app secrets stay secret."""

from __future__ import annotations

from singer_sdk.exceptions import ConfigValidationError

from tests.support.sandbox import SANDBOX_APP, SANDBOX_KEY, SANDBOX_SECRET
from tests.support.tap_runner import run_tap

USER_ID = "dashboard_user_sandbox"
APP_CONFIG = ["app_config"]


def test_reads_the_app_config_without_its_secret(sandbox, base_config):
    sandbox.fault(kind="status", status=503, path="/v1/app/")  # a retry logs the request once more
    cfg = {
        k: v for k, v in base_config.items() if k != "branch_secret"
    }  # the secret must come from Branch only
    run = run_tap({**cfg, "user_id": USER_ID}, select=APP_CONFIG)
    [record] = run.records("app_config")
    assert record["app_id"] == SANDBOX_APP
    assert record["app_name"] and record["creation_date"].endswith("+00:00")
    assert record["branch_key"] == "key_live_sandbox"
    assert "branch_secret" not in record and "branch_secret" not in record.get("extra_columns", {})
    for text in (run.raw_output, run.logs):
        assert SANDBOX_SECRET not in text
        assert USER_ID not in text
    assert "Retrying" in run.logs


def test_read_by_branch_key_and_secret_by_default(sandbox, base_config):
    run = run_tap(base_config, select=APP_CONFIG)
    [record] = run.records("app_config")
    assert record["app_id"] == SANDBOX_APP and record["branch_key"] == SANDBOX_KEY
    asked = [r["path"] for r in sandbox.requests_log() if r["path"].startswith("/v1/app/")]
    assert asked == [f"/v1/app/{SANDBOX_KEY}"]
    for text in (run.raw_output, run.logs):
        assert SANDBOX_SECRET not in text


def test_wrong_branch_secret_names_the_setting_not_its_value(sandbox, base_config):
    wrong = "secret_live_wrong_value"
    run = run_tap({**base_config, "branch_secret": wrong}, select=APP_CONFIG, expect_error=True)
    assert "'branch_secret'" in str(run.error)
    assert wrong not in str(run.error) and wrong not in run.logs and wrong not in run.raw_output


def test_selected_without_its_credentials_fails_naming_the_settings(sandbox, base_config):
    """As for every family: a stream selected on purpose without its credentials is an error,
    before any request (the README's promise), not a quiet skip."""
    sandbox.clear_requests()
    no_secret = {k: v for k, v in base_config.items() if k != "branch_secret"}
    run = run_tap(no_secret, select=APP_CONFIG, expect_error=True)
    cfg = {k: v for k, v in no_secret.items() if k != "app_id"}
    run_without_app = run_tap({**cfg, "user_id": USER_ID}, select=APP_CONFIG, expect_error=True)
    for result in (run, run_without_app):
        assert isinstance(result.error, ConfigValidationError)
        for setting in ("'branch_secret'", "'user_id'", "'app_id'"):
            assert setting in str(result.error)
        assert result.records("app_config") == []
    assert [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")] == []


def test_skipped_with_a_warning_when_only_selected_by_default(sandbox, base_config):
    """Without a catalog nobody chose app_config: without user_id it is skipped, saying why."""
    no_secret = {k: v for k, v in base_config.items() if k != "branch_secret"}
    run = run_tap({**no_secret, "end_date": base_config["start_date"]})
    assert run.error is None and run.records("app_config") == []
    assert "Skipping streams without their credentials" in run.logs and "'user_id'" in run.logs


def test_wrong_user_id_names_the_setting_not_its_value(sandbox, base_config):
    wrong = "dashboard_user_wrong_value"
    no_secret = {k: v for k, v in base_config.items() if k != "branch_secret"}
    run = run_tap({**no_secret, "user_id": wrong}, select=APP_CONFIG, expect_error=True)
    assert "'user_id'" in str(run.error)
    assert wrong not in str(run.error) and wrong not in run.logs and wrong not in run.raw_output


def test_unknown_app_or_retired_api_is_a_warning(sandbox, base_config):
    cfg = {
        **base_config,
        "user_id": USER_ID,
        "apps": [
            {"app_id": "no-such-app", "branch_key": "key_live_sandbox"},
            {"app_id": SANDBOX_APP, "branch_key": "key_live_sandbox"},
        ],
    }
    run = run_tap(cfg, select=APP_CONFIG)
    assert [r["app_id"] for r in run.records("app_config")] == [SANDBOX_APP]
    assert "HTTP 404 for app 'no-such-app'" in run.logs

    sandbox.fault(kind="status", status=410, path="/v1/app/", times=-1)
    retired = run_tap(cfg, select=APP_CONFIG)
    assert retired.records("app_config") == [] and retired.error is None
    assert "not available to this account" in retired.logs


def test_credentials_nested_in_the_answer_are_dropped(sandbox, base_config):
    nested = "secret_live_NESTED_value_123"
    body = {
        "app_name": "nested",
        "settings": {"branch_secret": nested, "api_key": "key_value_4567", "theme": "dark"},
        "keys": [{"apiSecret": "secret_in_list_890", "name": "k1"}],
    }
    sandbox.fault(kind="status", status=200, body=body, path="/v1/app/")
    run = run_tap(base_config, select=APP_CONFIG)
    [record] = run.records("app_config")
    assert record["extra_columns"] == {
        "settings": '{"theme":"dark"}',
        "keys": '[{"name":"k1"}]',
    }
    for secret in (nested, "key_value_4567", "secret_in_list_890"):
        assert secret not in run.raw_output and secret not in run.logs


def test_an_error_sent_with_200_is_no_app_config(sandbox, base_config):
    body = {"error": {"message": "internal", "code": 500}}
    sandbox.fault(kind="status", status=200, body=body, path="/v1/app/")
    run = run_tap(base_config, select=APP_CONFIG, expect_error=True)
    assert "app config request of app" in str(run.error) and "internal" in str(run.error)
    assert run.records("app_config") == []
