"""Without a catalog every stream is selected: streams lacking credentials are skipped, not fatal."""

from __future__ import annotations

import pytest

from tests.tap_runner import run_tap


def test_v1_only_credentials_sync_the_v1_streams_and_skip_the_rest(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k not in ("access_token",)}
    run = run_tap(config)
    assert run.error is None
    assert {"links", "link_clicks", "events"} <= run.streams_with_records
    assert not any(name.startswith("cohort_") for name in run.streams_with_records)
    assert "Skipping streams without their credentials" in run.logs
    assert "access_token" in run.logs


def test_an_explicit_selection_without_credentials_fails_naming_the_setting(sandbox, base_config):
    config = {k: v for k, v in base_config.items() if k not in ("branch_secret",)}
    run = run_tap(config, select=["links"], expect_error=True)
    assert run.error is not None
    assert "branch_secret" in str(run.error)
    assert run.streams_with_records == set()


def test_no_credentials_at_all_is_an_error(sandbox, base_config):
    config = {
        "start_date": base_config["start_date"],
        "api_url": sandbox.url,
        "api2_url": sandbox.url,
    }
    with pytest.raises(Exception, match="No stream can run"):
        run_tap(config)
