"""Bad config fails at start, before any request, with a message naming the setting."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_branch.apps import configured_apps
from tap_branch.settings import check_credentials, parse_date
from tap_branch.tap import TapBranch
from tests.conftest import DAILY_STREAMS, SANDBOX_KEY
from tests.tap_runner import run_tap


def _tap(config: dict) -> TapBranch:
    return TapBranch(config=config, parse_env_config=False)


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"start_date": "yesterday"}, "'start_date'"),
        ({"start_date": "2024-02-30"}, "'start_date'"),
        ({"end_date": "31/01/2024"}, "'end_date'"),
        (
            {"start_date": "2024-02-01", "end_date": "2024-01-31"},
            "'start_date' (2024-02-01) is after 'end_date'",
        ),
    ],
)
def test_bad_dates_fail_when_the_tap_starts(change, setting):
    config = {
        "start_date": "2024-01-01",
        "branch_key": "key_live_x",
        "branch_secret": "secret_live_x",
        **change,
    }
    with pytest.raises(ConfigValidationError, match=r".*".join(map(_escape, setting.split(" ")))):
        _tap(config)


def _escape(text: str) -> str:
    import re

    return re.escape(text)


def test_missing_start_date_is_named():
    with pytest.raises(ConfigValidationError) as raised:
        _tap({"branch_key": "key_live_x", "branch_secret": "secret_live_x"})
    assert "start_date" in str(raised.value) + " ".join(raised.value.errors)


def test_date_forms_accepted():
    assert str(parse_date("2024-01-31", "start_date")) == "2024-01-31"
    assert str(parse_date("2024-01-31T00:00:00Z", "start_date")) == "2024-01-31"
    # An offset is converted to UTC before the day is taken.
    assert str(parse_date("2024-01-31T23:30:00-02:00", "start_date")) == "2024-02-01"


def _assert_fails_before_any_request(sandbox, config: dict, *words: str) -> None:
    run = run_tap(config, select=DAILY_STREAMS, expect_error=True)
    assert isinstance(run.error, ConfigValidationError), run.error
    for word in words:
        assert word in str(run.error)
    assert not [r for r in sandbox.requests_log() if not r["path"].startswith("/_sandbox/")]
    assert run.streams_with_records == set()


def test_daily_streams_without_secret(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k != "branch_secret"}
    _assert_fails_before_any_request(
        sandbox, config, "'branch_secret'", "events", "links", "link_clicks"
    )


def test_daily_streams_without_any_app(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret")}
    _assert_fails_before_any_request(sandbox, config, "'branch_key'", "'branch_secret'", "'apps'")


def test_apps_entry_without_secret_names_the_app(sandbox, base_config):
    # `apps` replaces the flat app settings (leaving them beside it would contradict it).
    flat = ("app_id", "branch_key", "branch_secret")
    config = {k: v for k, v in base_config.items() if k not in flat}
    config["apps"] = [{"app_id": "mine", "branch_key": SANDBOX_KEY}]
    _assert_fails_before_any_request(sandbox, config, "'apps' entry for app mine")


def test_apps_entry_without_key_is_rejected():
    with pytest.raises(ConfigValidationError) as raised:
        _tap({"start_date": "2024-01-01", "apps": [{"branch_secret": "secret_live_x"}]})
    assert any("branch_key" in error for error in raised.value.errors)


def test_credentials_of_streams_not_selected_are_not_required(sandbox, base_config):
    config = {
        k: v for k, v in base_config.items() if k not in ("branch_key", "branch_secret", "app_id")
    }
    run = run_tap(config, select=[], expect_error=True)
    assert run.error is None


def test_v2_credentials_are_named():
    with pytest.raises(ConfigValidationError, match="'access_token'"):
        check_credentials({}, "v2", ["cohort"])
    with pytest.raises(ConfigValidationError, match="'app_id'"):
        check_credentials({"access_token": "api_app_x"}, "v2-app", ["scheduled"])
    check_credentials({"access_token": "api_app_x", "app_id": "1"}, "v2-app", ["scheduled"])


def test_flat_settings_and_apps_list_give_the_same_shape():
    flat = configured_apps({"branch_key": "key_live_a", "branch_secret": "secret_live_a"})
    listed = configured_apps(
        {"apps": [{"branch_key": "key_live_a", "branch_secret": "secret_live_a"}]}
    )
    assert flat == listed
    assert flat[0].app_id == "key_live_a"
    # The list wins over the flat settings.
    both = configured_apps(
        {
            "branch_key": "key_live_flat",
            "apps": [{"app_id": "7", "branch_key": "key_live_b", "branch_secret": "s"}],
        }
    )
    assert [(a.app_id, a.branch_key) for a in both] == [("7", "key_live_b")]


def test_secrets_are_marked_secret_in_the_settings():
    properties = TapBranch.config_jsonschema["properties"]
    for name in ("branch_secret", "access_token"):
        assert properties[name].get("secret") is True, name
        assert properties[name].get("writeOnly") is True, name
    assert properties["apps"]["items"]["properties"]["branch_secret"].get("secret") is True


def test_about_markdown_lists_every_setting():
    result = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--about", "--format=markdown"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    for name in TapBranch.config_jsonschema["properties"]:
        assert f"| {name}" in result.stdout, name


def test_cli_names_the_bad_setting_and_exits_non_zero(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(
        json.dumps(
            {"start_date": "2024-05-01", "end_date": "2024-04-01", "branch_key": "key_live_x"}
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "tap_branch.tap", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "'start_date' (2024-05-01) is after 'end_date' (2024-04-01)" in result.stderr
    assert result.stdout == ""
