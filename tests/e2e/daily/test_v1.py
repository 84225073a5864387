"""Daily exports end to end against the sandbox: every row once, bookmarks by day, one request a day."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import requests
from singer_sdk.exceptions import FatalAPIError

from tap_branch.streams.daily.files import parse_manifest
from tests.support.sandbox import (
    DAILY_KEYS,
    DAILY_STREAMS,
    SANDBOX_APP,
    days_back,
    export_requests,
    file_requests,
    sandbox_volumes,
    utc_today,
    volumes_of,
)
from tests.support.tap_runner import TapRun, run_tap


def _by_stream(run: TapRun) -> dict[str, list[dict]]:
    return {stream: run.records(stream) for stream in DAILY_STREAMS}


def _bookmark(run: TapRun, stream: str, app_id: str = SANDBOX_APP) -> str | None:
    for partition in run.state.get("bookmarks", {}).get(stream, {}).get("partitions", []):
        if partition["context"] == {"app_id": app_id}:
            return partition.get("replication_key_value")
    return None


def _midnight(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00+00:00"


def _keys(run: TapRun, stream: str) -> list[tuple]:
    return [(r["app_id"], r[DAILY_KEYS[stream]]) for r in run.records(stream)]


def test_first_run_reads_every_row_of_every_day_once(sandbox, base_config):
    days = days_back(3, 2, 1)
    run = run_tap(base_config, select=DAILY_STREAMS)

    assert volumes_of(_by_stream(run)) == sandbox_volumes(sandbox, SANDBOX_APP, days)
    for stream in DAILY_STREAMS:
        keys = _keys(run, stream)
        assert len(keys) == len(set(keys)), f"{stream}: a row was emitted twice"
        assert {r["app_id"] for r in run.records(stream)} == {SANDBOX_APP}
        assert {r["export_date"] for r in run.records(stream)} == {_midnight(d) for d in days}
        assert _bookmark(run, stream) == _midnight(days[-1])
    # The SCHEMA names the natural key together with the app.
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    assert schemas["events"]["key_properties"] == ["app_id", "id"]
    assert schemas["links"]["bookmark_properties"] == ["export_date"]
    # One export request per day serves all three streams; each file is read once.
    assert len(export_requests(sandbox)) == len(days)
    files = file_requests(sandbox)
    assert len(files) == len({f["path"] for f in files})
    # Days split across several files: every one of them was read.
    assert sum(1 for f in files if "/events/" in f["path"]) > len(days)


def test_typed_values_reach_the_records(sandbox, base_config):
    run = run_tap({**base_config, "start_date": days_back(1)[0].isoformat()}, select=DAILY_STREAMS)
    event = next(r for r in run.records("events") if r["first_referring_click_query_params"])
    assert (
        event["timestamp"].endswith("+00:00")
        and event["timestamp"][:10] == days_back(1)[0].isoformat()
    )
    assert isinstance(event["metadata"], dict) and isinstance(event["device_metadata"], dict)
    assert event["first_referring_click_query_params"]["q"] == 'a,b "c"'
    click = run.records("link_clicks")[0]
    assert isinstance(click["sms_from_desktop"], bool)
    assert isinstance(click["link_tags"], list)
    assert click["phone_number"] is None  # empty cell
    for stream in DAILY_STREAMS:
        assert all(
            "unparsed_cells" not in r and "extra_columns" not in r for r in run.records(stream)
        )
    titles = {r["data"]["$og_title"] for r in run.records("links")}
    assert 'He said "hi"\nthen left' in titles  # quotes and a newline inside a quoted cell
    campaigns = {r["campaign"] for r in run.records("links")}
    assert (
        "Holiday\nsecond line" in campaigns and "Black Friday, 2024" in campaigns
    )  # raw newline, comma


def test_second_run_with_the_state_reads_nothing_and_asks_nothing(sandbox, base_config):
    first = run_tap(base_config, select=DAILY_STREAMS)
    sandbox.clear_requests()
    again = run_tap(base_config, state=first.state, select=DAILY_STREAMS)
    assert again.streams_with_records == set()
    assert export_requests(sandbox) == [] and file_requests(sandbox) == []
    assert again.state == first.state
    assert "up to date" in again.logs


def test_next_day_brings_exactly_that_days_rows(sandbox, base_config):
    today = utc_today()
    # The sandbox one day behind: the tap's "yesterday" is the sandbox's today, not ready yet.
    sandbox.set_today(today - dt.timedelta(days=1))
    first = run_tap(base_config, select=DAILY_STREAMS)
    assert first.error is None
    assert volumes_of(_by_stream(first)) == sandbox_volumes(sandbox, SANDBOX_APP, days_back(3, 2))

    again = run_tap(base_config, state=first.state, select=DAILY_STREAMS)
    assert again.streams_with_records == set()

    sandbox.advance_days(1)
    sandbox.clear_requests()
    next_day = run_tap(base_config, state=again.state, select=DAILY_STREAMS)
    assert volumes_of(_by_stream(next_day)) == sandbox_volumes(sandbox, SANDBOX_APP, days_back(1))
    assert len(export_requests(sandbox)) == 1
    for stream in DAILY_STREAMS:
        assert _bookmark(next_day, stream) == _midnight(days_back(1)[0])

    # The runs together hold exactly what one run over the whole range holds.
    whole = run_tap(base_config, select=DAILY_STREAMS)
    for stream in DAILY_STREAMS:
        pieces = first.records(stream) + next_day.records(stream)
        assert sorted(_keys(whole, stream)) == sorted(
            (r["app_id"], r[DAILY_KEYS[stream]]) for r in pieces
        )
        assert sorted(map(repr, whole.records(stream))) == sorted(map(repr, pieces))


def test_day_not_ready_ends_the_sync_cleanly_and_keeps_the_bookmark(sandbox, base_config):
    yesterday = days_back(1)[0]
    sandbox.set_today(yesterday)  # the sandbox's files for it answer 400 until its day is over
    run = run_tap(base_config, select=DAILY_STREAMS)
    assert run.error is None
    assert f"not ready yet; stopping here. The next run starts again from {yesterday}" in run.logs
    for stream in DAILY_STREAMS:
        assert _bookmark(run, stream) == _midnight(days_back(2)[0])
        assert yesterday.isoformat() not in {r["export_date"][:10] for r in run.records(stream)}
    statuses = {r["status"] for r in file_requests(sandbox) if yesterday.isoformat() in r["path"]}
    assert statuses == {400}


def test_end_date_is_the_last_day_read(sandbox, base_config):
    days = days_back(4, 3)
    config = {**base_config, "start_date": days[0].isoformat(), "end_date": days[-1].isoformat()}
    run = run_tap(config, select=DAILY_STREAMS)
    assert volumes_of(_by_stream(run)) == sandbox_volumes(sandbox, SANDBOX_APP, days)
    assert len(export_requests(sandbox)) == 2


def test_empty_days_within_grace_wait_older_ones_pass(sandbox, base_config):
    sandbox.options(daily_rows={"links": 0, "link_clicks": 0, "events": 0})
    config = {**base_config, "start_date": days_back(5)[0].isoformat()}
    run = run_tap(config, select=DAILY_STREAMS)
    assert run.error is None and run.streams_with_records == set()
    # 5, 4 and 3 days old: past the default grace of 2 days, empty means no data.
    # 2 days old: maybe not published yet; the sync stops and retries it next run.
    for stream in DAILY_STREAMS:
        assert _bookmark(run, stream) == _midnight(days_back(3)[0])
    assert f"files for {days_back(2)[0]} (app {SANDBOX_APP}) are not ready yet" in run.logs

    no_grace = run_tap({**config, "empty_day_grace_days": 0}, state=run.state, select=DAILY_STREAMS)
    for stream in DAILY_STREAMS:
        assert _bookmark(no_grace, stream) == _midnight(days_back(1)[0])


def test_post_fallback_serves_all_three_streams_with_one_request_a_day(sandbox, base_config):
    days = days_back(3, 2, 1)
    clean = run_tap(base_config, select=DAILY_STREAMS)
    sandbox.options(daily_get_form=False)
    sandbox.clear_requests()
    run = run_tap(base_config, select=DAILY_STREAMS)
    requests = export_requests(sandbox)
    # One GET answers 404, then the POST form for every day: never a second request for a day.
    assert [(r["method"], r["status"]) for r in requests if r["method"] == "GET"] == [("GET", 404)]
    assert [r["method"] for r in requests if r["status"] == 200] == ["POST"] * len(days)
    assert "using the documented POST /v2/export form" in run.logs
    for stream in DAILY_STREAMS:
        assert run.records(stream) == clean.records(stream)


def test_bad_cells_unknown_and_missing_columns_end_to_end(sandbox, base_config):
    sandbox.options(
        daily_bad_cells=2, daily_extra_column="brand_new_column", daily_drop_column="channel"
    )
    config = {**base_config, "start_date": days_back(1)[0].isoformat()}
    run = run_tap(config, select=DAILY_STREAMS)
    assert run.error is None
    links = run.records("links")
    assert (
        len(links)
        == sandbox_volumes(sandbox, SANDBOX_APP, days_back(1))["links"][days_back(1)[0].isoformat()]
    )
    assert all(r["channel"] is None for r in links)  # documented but missing: null
    assert all(r["extra_columns"]["brand_new_column"].startswith("extra-") for r in links)
    bad = [r for r in links if "unparsed_cells" in r]
    files = len([f for f in file_requests(sandbox) if "/links/" in f["path"]])
    assert len(bad) == 2 * files
    assert all(r["unparsed_cells"] == {"creation_timestamp": "not-a-timestamp"} for r in bad)
    assert all(r["creation_timestamp"] is None for r in bad)
    # Logged once per stream and problem, not once per row or file.
    assert run.logs.count("'creation_timestamp' has a value that does not parse") == 1
    assert run.logs.count("brand_new_column") == 3  # links, link_clicks, events


def _catalog_with_deselected(config: dict, stream_name: str, properties: list[str]) -> dict:
    from tap_branch.tap import TapBranch

    catalog = TapBranch(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] == stream_name
            elif metadata["breadcrumb"][-1] in properties and entry["tap_stream_id"] == stream_name:
                metadata["metadata"]["selected"] = False
    return catalog


def test_deselected_properties_are_left_out(sandbox, base_config):
    config = {**base_config, "start_date": days_back(1)[0].isoformat()}
    catalog = _catalog_with_deselected(
        config, "events", ["metadata", "user_agent", "device_metadata"]
    )
    run = run_tap(config, catalog=catalog)
    records = run.records("events")
    assert run.streams_with_records == {"events"}
    assert (
        len(records)
        == sandbox_volumes(sandbox, SANDBOX_APP, days_back(1))["events"][
            days_back(1)[0].isoformat()
        ]
    )
    for record in records:
        assert not {"metadata", "user_agent", "device_metadata"} & set(record)
        assert record["id"] and record["export_date"] and record["app_id"] == SANDBOX_APP
        assert "timestamp" in record and "name" in record
    schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "events")
    assert "metadata" not in schema["schema"]["properties"]


def test_stream_maps_alias_computed_and_removed_properties(sandbox, base_config):
    config = {
        **base_config,
        "start_date": days_back(1)[0].isoformat(),
        "stream_maps": {
            "links": {
                "__alias__": "branch_links",
                "channel_upper": "channel.upper() if channel else None",
                "data": "__NULL__",
            },
            "events": {"__filter__": "name == 'install'"},
        },
    }
    clean = run_tap({**config, "stream_maps": {}}, select=["links", "events"])
    run = run_tap(config, select=["links", "events"])
    mapped = run.records("branch_links")
    assert run.records("links") == []
    assert len(mapped) == len(clean.records("links")) > 0
    for before, after in zip(clean.records("links"), mapped, strict=True):
        assert "data" not in after
        assert after["channel_upper"] == (before["channel"].upper() if before["channel"] else None)
        assert after["link_id"] == before["link_id"]
    installs = [r for r in clean.records("events") if r["name"] == "install"]
    assert run.records("events") == installs and installs
    schema = next(
        m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == "branch_links"
    )
    assert (
        "channel_upper" in schema["schema"]["properties"]
        and "data" not in schema["schema"]["properties"]
    )
    # State stays keyed by the stream's own name.
    assert _bookmark(run, "links") == _midnight(days_back(1)[0])


def test_flattening_takes_the_sdks_path_and_still_flattens(sandbox, base_config):
    config = {
        **base_config,
        "start_date": days_back(1)[0].isoformat(),
        "flattening_enabled": True,
        "flattening_max_depth": 1,
    }
    clean = run_tap({**base_config, "start_date": days_back(1)[0].isoformat()}, select=["links"])
    run = run_tap(config, select=["links"])
    assert len(run.records("links")) == len(clean.records("links")) > 0
    for before, after in zip(clean.records("links"), run.records("links"), strict=True):
        assert "data" not in after
        assert after["data__$og_title"] == before["data"]["$og_title"]
        assert after["link_id"] == before["link_id"]


def _answer(body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = json.dumps(body).encode()
    return response


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        # Lists beside an error: an answer that failed, not a day without data.
        ({"links": [], "clicks": [], "events": [], "error": "export failed"}, "is an error"),
        ({"links": [""], "clicks": [], "events": []}, "not a list of http(s) URLs"),
        ({"links": ["ftp://files/1.csv.gz"], "clicks": [], "events": []}, "http(s) URLs"),
        ({"links": ["https://[::1/x.csv.gz"], "clicks": [], "events": []}, "http(s) URLs"),
        ({"links": ["https://h:port/x.csv.gz"], "clicks": [], "events": []}, "http(s) URLs"),
    ],
)
def test_an_answer_that_is_no_days_file_lists_fails_naming_the_day(body, problem):
    lists = {"links": "links", "link_clicks": "clicks", "events": "events"}
    with pytest.raises(FatalAPIError, match=re.escape(problem)) as raised:
        parse_manifest(_answer(body), "the daily export files of 2026-03-08", lists)
    assert "2026-03-08" in str(raised.value)
    assert "files/1" not in str(raised.value)  # the values (signed URLs) are never shown


@pytest.mark.parametrize(
    "body",
    [
        {"links": [], "clicks": [], "events": ["https://h/e.csv.gz?sp=r&skoid=opaque"], "error": 1},
        {"error": {"message": "see https://h/e.csv.gz?sp=r&skoid=opaque"}},
        {"message": "see https://h/e.csv.gz?sp=r&skoid=opaque"},
        ["https://h/e.csv.gz?sp=r&skoid=opaque"],
        "https://h/e.csv.gz?sp=r&skoid=opaque",
    ],
)
def test_a_days_answer_is_read_by_json_answer_without_url_queries(body):
    lists = {"links": "links", "link_clicks": "clicks", "events": "events"}
    with pytest.raises(FatalAPIError, match="2026-03-08") as raised:
        parse_manifest(_answer(body), "the daily export files of 2026-03-08", lists)
    assert "skoid" not in str(raised.value) and "opaque" not in str(raised.value)
