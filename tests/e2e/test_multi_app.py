"""Several Branch apps (`apps`): a state partition per app, `app_id` in every record and key."""

from __future__ import annotations

from tests.support.sandbox import (
    DAILY_KEYS,
    DAILY_STREAMS,
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SECOND,
    SandboxControl,
    days_back,
    export_requests,
    sandbox_volumes,
    volumes_of,
)
from tests.support.tap_runner import TapRun, run_tap


def _config(control: SandboxControl, apps: list[dict], **extra) -> dict:
    return {
        "start_date": days_back(2)[0].isoformat(),
        "apps": apps,
        "api_url": control.url,
        "api2_url": control.url,
        "backoff_factor": 0.05,
        **extra,
    }


FIRST_APP = {"app_id": SANDBOX_APP, "branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET}
SECOND_APP = {
    "app_id": SECOND.app_id,
    "branch_key": SECOND.branch_key,
    "branch_secret": SECOND.branch_secret,
}


def _records_of_app(run: TapRun, app_id: str) -> dict[str, list[dict]]:
    return {
        stream: [r for r in run.records(stream) if r["app_id"] == app_id]
        for stream in DAILY_STREAMS
    }


def _bookmarks(run: TapRun, stream: str) -> dict[str, str]:
    partitions = run.state["bookmarks"][stream]["partitions"]
    return {p["context"]["app_id"]: p["replication_key_value"] for p in partitions}


def test_each_app_is_read_with_its_own_key_and_keeps_its_own_state(two_app_sandbox):
    control = two_app_sandbox
    days = days_back(2, 1)
    run = run_tap(_config(control, [FIRST_APP, SECOND_APP]), select=DAILY_STREAMS)

    for app_id in (SANDBOX_APP, SECOND.app_id):
        assert volumes_of(_records_of_app(run, app_id)) == sandbox_volumes(control, app_id, days)
    for stream in DAILY_STREAMS:
        assert {r["app_id"] for r in run.records(stream)} == {SANDBOX_APP, SECOND.app_id}
        keys = [(r["app_id"], r[DAILY_KEYS[stream]]) for r in run.records(stream)]
        assert len(keys) == len(set(keys))
        midnight = f"{days[-1].isoformat()}T00:00:00+00:00"
        assert _bookmarks(run, stream) == {SANDBOX_APP: midnight, SECOND.app_id: midnight}
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "links")
    assert schema["key_properties"] == ["app_id", "link_id"]
    # One export request per app and day, each with its own key in the path.
    paths = [r["path"] for r in export_requests(control)]
    assert sorted(paths) == sorted(
        [f"/v1/export/{SANDBOX_KEY}"] * 2 + [f"/v1/export/{SECOND.branch_key}"] * 2
    )


def test_an_app_added_later_starts_from_start_date_the_others_from_their_bookmark(two_app_sandbox):
    control = two_app_sandbox
    first = run_tap(_config(control, [FIRST_APP]), select=DAILY_STREAMS)
    assert {r["app_id"] for r in first.records("events")} == {SANDBOX_APP}

    control.clear_requests()
    both = run_tap(
        _config(control, [FIRST_APP, SECOND_APP]), state=first.state, select=DAILY_STREAMS
    )
    assert volumes_of(_records_of_app(both, SECOND.app_id)) == sandbox_volumes(
        control, SECOND.app_id, days_back(2, 1)
    )
    assert all(records == [] for records in _records_of_app(both, SANDBOX_APP).values())
    assert {r["path"] for r in export_requests(control)} == {f"/v1/export/{SECOND.branch_key}"}
    assert set(_bookmarks(both, "events")) == {SANDBOX_APP, SECOND.app_id}


def test_apps_without_app_id_use_their_public_branch_key(two_app_sandbox):
    control = two_app_sandbox
    apps = [{"branch_key": SANDBOX_KEY, "branch_secret": SANDBOX_SECRET}]
    run = run_tap(_config(control, apps, start_date=days_back(1)[0].isoformat()), select=["links"])
    assert {r["app_id"] for r in run.records("links")} == {SANDBOX_KEY}
    assert set(_bookmarks(run, "links")) == {SANDBOX_KEY}


def test_flat_settings_without_app_id_use_the_branch_key(sandbox, base_config):
    config = {**base_config, "start_date": days_back(1)[0].isoformat()}
    del config["app_id"]
    run = run_tap(config, select=["links"])
    assert {r["app_id"] for r in run.records("links")} == {SANDBOX_KEY}
    assert _bookmarks(run, "links").keys() == {SANDBOX_KEY}


def test_one_app_with_a_wrong_secret_fails_naming_its_key_not_its_secret(two_app_sandbox):
    control = two_app_sandbox
    wrong = {**SECOND_APP, "branch_secret": "secret_live_not_this_one"}
    config = _config(control, [FIRST_APP, wrong])
    # A first run (no state) tries every app's secret before any record (connection.py).
    first = run_tap(config, select=["links"], expect_error=True)
    # A later run (with state) reads app by app: the first app's new rows and bookmark
    # make it out before the failure.
    earlier = _config(control, [FIRST_APP])
    state = run_tap({**earlier, "end_date": earlier["start_date"]}, select=["links"]).state
    run = run_tap(config, state=state, select=["links"], expect_error=True)
    for failed in (first, run):
        assert failed.error is not None
        message = str(failed.error)
        assert "Authentication failed !" in message and SECOND.branch_key in message
        assert "secret_live_not_this_one" not in message + failed.logs
    assert first.streams_with_records == set()
    assert {r["app_id"] for r in run.records("links")} == {SANDBOX_APP}
    assert SANDBOX_APP in _bookmarks(run, "links")
