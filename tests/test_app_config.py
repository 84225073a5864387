"""app_config: GET /v1/app/{app_id}?user_id=... against the sandbox; user_id and app secrets stay secret."""

from __future__ import annotations

from tests.conftest import SANDBOX_APP, SANDBOX_SECRET
from tests.tap_runner import run_tap

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


def test_skipped_without_user_id_or_app_id(sandbox, base_config):
    sandbox.clear_requests()
    run = run_tap(base_config, select=APP_CONFIG)
    cfg = {k: v for k, v in base_config.items() if k != "app_id"}
    run_without_app = run_tap({**cfg, "user_id": USER_ID}, select=APP_CONFIG)
    for result in (run, run_without_app):
        assert result.records("app_config") == [] and result.error is None
        assert "app_config is read only when settings 'user_id' and 'app_id'" in result.logs
    assert [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")] == []


def test_wrong_user_id_names_the_setting_not_its_value(sandbox, base_config):
    wrong = "dashboard_user_wrong_value"
    run = run_tap({**base_config, "user_id": wrong}, select=APP_CONFIG, expect_error=True)
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
