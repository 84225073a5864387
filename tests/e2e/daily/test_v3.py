"""Daily Exports v3 end to end against the sandbox."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest

from tests.support.sandbox import utc_today
from tests.support.tap_runner import run_tap

V3 = ["daily_eo_click", "daily_eo_open", "daily_eo_install"]


def _days(run, stream):
    return sorted({r["export_date"][:10] for r in run.records(stream)})


def _bookmark(state, stream):
    return state["bookmarks"][stream]["partitions"][0]["replication_key_value"][:10]


def test_topics_typed_incremental_and_one_request_per_day(sandbox, base_config):
    today = utc_today()
    run = run_tap(base_config, select=V3)
    expected_days = [(today - dt.timedelta(days=n)).isoformat() for n in (3, 2, 1)]
    for stream in V3:
        assert _days(run, stream) == expected_days
        assert _bookmark(run.state, stream) == expected_days[-1]
    clicks = run.records("daily_eo_click")
    ids = [r["id"] for r in clicks]
    assert len(ids) == len(set(ids)) > 3 * 50  # several files a day (50 rows each)
    row = clicks[0]
    assert row["app_id"] == "sandbox-app"
    assert isinstance(row["timestamp_ms"], int)
    assert row["timestamp"].startswith(row["export_date"][:10])
    assert isinstance(row["custom_data"], dict)
    assert isinstance(row["last_attributed_touch_data_tilde_tags"], list)
    assert isinstance(row["attributed"], bool)
    assert isinstance(row["persona_identifiers[].id"], list)
    assert "unparsed_cells" not in row and "extra_columns" not in row
    # One /v3/export request per day for all three topics.
    asks = [r for r in sandbox.requests_log() if r["path"] == "/v3/export"]
    assert len(asks) == 3

    again = run_tap(base_config, state=run.state, select=V3)
    assert again.streams_with_records == set()


def test_day_not_published_stops_without_moving_bookmark_then_is_read(sandbox, base_config):
    today = utc_today()
    sandbox.options(v3_publish_lag_days=1)  # yesterday's lists are still empty
    first = run_tap(base_config, select=["daily_eo_click"])
    assert _days(first, "daily_eo_click") == [
        (today - dt.timedelta(days=n)).isoformat() for n in (3, 2)
    ]
    assert _bookmark(first.state, "daily_eo_click") == (today - dt.timedelta(days=2)).isoformat()
    assert "not ready yet" in first.logs

    sandbox.options(v3_publish_lag_days=0)  # the day became ready between two runs
    second = run_tap(base_config, state=first.state, select=["daily_eo_click"])
    assert _days(second, "daily_eo_click") == [(today - dt.timedelta(days=1)).isoformat()]
    assert _bookmark(second.state, "daily_eo_click") == (today - dt.timedelta(days=1)).isoformat()


def test_empty_day_followed_by_published_day_is_passed(sandbox, base_config):
    today = utc_today()
    empty = (today - dt.timedelta(days=2)).isoformat()
    sandbox.options(v3_empty_days=[empty])
    run = run_tap(base_config, select=["daily_eo_click"])
    assert empty not in _days(run, "daily_eo_click")
    assert _bookmark(run.state, "daily_eo_click") == (today - dt.timedelta(days=1)).isoformat()


def test_start_older_than_seven_days_is_clamped_with_warning(sandbox, base_config):
    today = utc_today()
    config = {**base_config, "start_date": (today - dt.timedelta(days=10)).isoformat()}
    run = run_tap(config, select=["daily_eo_install"])
    assert _days(run, "daily_eo_install")[0] == (today - dt.timedelta(days=7)).isoformat()
    assert "can no longer be fetched" in run.logs
    assert (today - dt.timedelta(days=10)).isoformat() in run.logs
    assert (today - dt.timedelta(days=8)).isoformat() in run.logs


def test_resume_after_kill_between_files_reads_each_row_once(sandbox, base_config):
    today = utc_today()
    config = {**base_config, "start_date": (today - dt.timedelta(days=1)).isoformat()}
    # A day holds 96 to 144 clicks (the volume varies by date): 30-row files make it 4 or more.
    sandbox.options(v3_rows_per_file=30)
    full = run_tap(config, select=["daily_eo_click"])
    all_ids = sorted(r["id"] for r in full.records("daily_eo_click"))
    assert len(all_ids) > 2 * 30  # at least three files

    # The second file of the day fails hard: the run stops after the first file.
    sandbox.fault(kind="status", path="/eo_click/1-", status=404, times=-1)
    killed = run_tap(config, select=["daily_eo_click"], expect_error=True)
    assert killed.error is not None
    progress = killed.state["bookmarks"]["daily_eo_click"]["partitions"][0]["day_in_progress"]
    assert len(progress["files_done"]) == 1
    assert "X-Amz" not in str(killed.state)
    sandbox.clear_faults()

    resumed = run_tap(config, state=killed.state, select=["daily_eo_click"])
    ids = [r["id"] for r in killed.records("daily_eo_click")] + [
        r["id"] for r in resumed.records("daily_eo_click")
    ]
    assert sorted(ids) == all_ids
    partition = resumed.state["bookmarks"]["daily_eo_click"]["partitions"][0]
    assert "day_in_progress" not in partition
    assert partition["replication_key_value"][:10] == (today - dt.timedelta(days=1)).isoformat()


def test_unknown_topic_is_reported_and_secrets_stay_out(sandbox, base_config):
    sandbox.options(v3_extra_topic="eo_brand_new", v3_rows={"eo_brand_new": 5})
    run = run_tap(base_config, select=["daily_eo_open"])
    assert "eo_brand_new" in run.logs and "no stream" in run.logs
    assert "secret_live_sandbox" not in run.logs + run.raw_output
    assert not re.search(r"X-Amz-Signature=[0-9a-f]", run.logs + run.raw_output)
    assert "X-Amz" not in run.raw_output  # no signed URL in records or state


def test_a_file_not_ready_in_a_batch_run_leaves_no_progress_and_loses_no_row(
    sandbox, base_config, tmp_path
):
    """In BATCH messages a day's files are announced once the day is whole, and discarded if
    the run stops before: a file read into them must not be marked read in the state."""
    today = utc_today()
    config = {**base_config, "start_date": (today - dt.timedelta(days=1)).isoformat()}
    sandbox.options(v3_rows_per_file=30)
    all_ids = sorted(
        r["id"] for r in run_tap(config, select=["daily_eo_click"]).records("daily_eo_click")
    )
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "none"},
        "storage": {"root": tmp_path.as_uri()},
    }
    sandbox.fault(kind="status", path="/eo_click/1-", status=400, times=1)  # not ready yet
    stopped = run_tap({**config, "batch_config": batch_config}, select=["daily_eo_click"])
    assert not [m for m in stopped.messages if m["type"] == "BATCH"]
    assert "day_in_progress" not in str(stopped.state)

    resumed = run_tap(
        {**config, "batch_config": batch_config}, state=stopped.state, select=["daily_eo_click"]
    )
    ids = []
    for message in resumed.messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                with open(url.removeprefix("file://"), "rb") as lines:
                    ids.extend(json.loads(line)["id"] for line in lines)
    assert sorted(ids) == all_ids


def test_a_topic_missing_from_the_days_answer_fails_naming_it(sandbox, base_config):
    """Branch lists every topic, an empty list on a day without data: a topic left out is not
    a day without data, and passing the day would lose it."""
    sandbox.options(v3_missing_topics=["eo_open"])
    run = run_tap(base_config, select=["daily_eo_click", "daily_eo_open"], expect_error=True)
    assert "has no 'eo_open' list" in str(run.error)
    assert "deselect stream daily_eo_open" in str(run.error)


@pytest.mark.parametrize("columnar", [True, False], ids=["columnar", "rows"])
def test_the_columns_real_v3_files_carry_arrive_typed(sandbox, base_config, columnar):
    """Real v3 files carry the organization, `datasource` and the flattened keys of Branch's
    lists of objects (`persona_identifiers[].guaranteed`, `user_data_prob_cross_platform_ids[].*`):
    typed columns on both paths, never text in `extra_columns`."""
    config = {**base_config, "start_date": (utc_today() - dt.timedelta(days=1)).isoformat()}
    streams = ["daily_eo_install", "daily_eo_content_event", "daily_eo_impression"]
    run = run_tap({**config, "columnar_files": columnar}, select=streams)
    records = [r for stream in streams for r in run.records(stream)]
    assert {stream for stream in streams if run.records(stream)} == set(streams)
    for record in records:
        assert "extra_columns" not in record and "unparsed_cells" not in record, record
        assert record["organization_id"].isdigit()
        assert record["organization_name"] == 'Sandbox Org, Inc. — "demo"'
        assert isinstance(record["datasource"], str)
        guaranteed = record["persona_identifiers[].guaranteed"]
        assert guaranteed and all(isinstance(flag, bool) for flag in guaranteed)
        assert len(guaranteed) == len(record["persona_identifiers[].id"])
        ids = record["user_data_prob_cross_platform_ids[].id"]
        probabilities = record["user_data_prob_cross_platform_ids[].probability"]
        assert isinstance(ids, list) and isinstance(probabilities, list)
        assert len(ids) == len(probabilities)
        assert all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in probabilities)
    assert any(r["user_data_prob_cross_platform_ids[].probability"] for r in records)
    assert {True, False} <= {
        flag for r in records for flag in r["persona_identifiers[].guaranteed"]
    }
    # Android installs carry the store's install referrer, as epoch ms beside a date-time.
    referred = [r for r in run.records("daily_eo_install") if r["store_install_begin_timestamp"]]
    assert referred and all(
        isinstance(r["store_install_begin_timestamp_ms"], int) for r in referred
    )
    assert {r["name"] for r in run.records("daily_eo_content_event")} <= {
        "SEARCH", "VIEW_ITEM", "VIEW_ITEMS", "RATE", "SHARE"
    }  # fmt: skip
