"""Without a catalog every stream is selected: streams lacking credentials are skipped, not fatal."""

from __future__ import annotations

import io
import json

import pytest
from singer_sdk.singerlib import Schema

from tap_branch.config.catalog_checks import catalog_file
from tests.support.tap_runner import run_tap, select_only


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


def test_credits_are_opt_in_like_custom_exports(sandbox, base_config):
    """The credit streams read only the identities `credit_identities` lists: without a
    catalog they are not run (no empty tables, no warning about the setting), and the
    catalog marks them not selected by default, as it does the Custom Exports."""
    from tap_branch.tap import TapBranch

    credits = {"credit_history", "credit_balances"}
    run = run_tap(base_config)
    assert run.error is None
    assert {"links", "app_config", "cohort_installs_by_campaign"} <= run.streams_with_records
    assert not credits & {m["stream"] for m in run.messages if m["type"] == "SCHEMA"}
    assert "credit_identities" not in run.logs
    assert not [r for r in sandbox.requests_log() if r["path"].startswith("/v1/credit")]

    catalog = TapBranch(config=base_config, parse_env_config=False).catalog_dict
    by_default = {
        entry["tap_stream_id"]
        for entry in catalog["streams"]
        for metadata in entry["metadata"]
        if metadata["breadcrumb"] == [] and not metadata["metadata"]["selected-by-default"]
    }
    assert credits <= by_default
    assert {name for name in by_default if not name.startswith("custom_")} == credits


# --- a catalog: its streams must be the tap's, some selected, with the tap's schemas ----------


def _catalog(base_config: dict, *selected: str) -> dict:
    from tap_branch.tap import TapBranch

    return select_only(TapBranch(config=base_config, parse_env_config=False).catalog_dict, selected)


def _entry(catalog: dict, stream: str) -> dict:
    return next(e for e in catalog["streams"] if e["tap_stream_id"] == stream)


def _refused(base_config: dict, catalog: dict) -> str:
    from tap_branch.errors import InvalidCatalogError

    with pytest.raises(InvalidCatalogError) as raised:
        run_tap(base_config, catalog=catalog)
    return str(raised.value)


def test_a_catalog_of_unknown_streams_is_refused_naming_them(sandbox, base_config):
    catalog = _catalog(base_config, "links")
    entry = _entry(catalog, "links")
    entry["tap_stream_id"] = entry["stream"] = "branch_links"  # e.g. an older name
    message = _refused(base_config, catalog)
    assert "streams tap-branch does not have: branch_links" in message
    assert "--discover" in message
    assert sandbox.requests_log() == []


@pytest.mark.parametrize("catalog", [{}, {"streams": []}, "none selected"])
def test_a_catalog_selecting_no_stream_is_refused(sandbox, base_config, catalog):
    if catalog == "none selected":
        catalog = _catalog(base_config)
    assert "selects no stream" in _refused(base_config, catalog)
    assert sandbox.requests_log() == []


def test_a_catalog_retyping_properties_is_refused_before_any_request(sandbox, base_config):
    """An older catalog (or Meltano's `schema` extra) typing `tags` as text: the SDK would send
    its SCHEMA, and every record, typed by the tap, would fail it."""
    catalog = _catalog(base_config, "links")
    properties = _entry(catalog, "links")["schema"]["properties"]
    properties["tags"] = {"type": ["string", "null"]}
    properties["data"] = {"type": ["string", "null"]}
    message = _refused(base_config, catalog)
    assert "stream 'links'" in message and "properties data, tags" in message
    assert "--refresh-catalog" in message
    assert sandbox.requests_log() == []


def test_a_catalog_missing_or_adding_a_property_is_refused(sandbox, base_config):
    catalog = _catalog(base_config, "links")
    properties = _entry(catalog, "links")["schema"]["properties"]
    del properties["tags"]
    properties["renamed_column"] = {"type": ["string", "null"]}
    assert "properties renamed_column, tags" in _refused(base_config, catalog)


def test_a_catalog_deselecting_properties_or_rewording_them_runs(sandbox, base_config):
    """Selection is the catalog's to make; descriptions and the order of types are no shape."""
    catalog = _catalog(base_config, "links")
    entry = _entry(catalog, "links")
    for metadata in entry["metadata"]:
        if metadata["breadcrumb"] == ["properties", "tags"]:
            metadata["metadata"]["selected"] = False
    entry["schema"]["properties"]["data"]["description"] = "reworded"
    types = entry["schema"]["properties"]["link_id"]["type"]
    if isinstance(types, list):
        types.reverse()
    run = run_tap(base_config, catalog=catalog)
    assert run.error is None
    records = run.records("links")
    assert records and all("tags" not in record for record in records)


# --- the SDK's stream maps: set up for the streams that sync, and for them only ---------------


def test_stream_maps_are_set_up_for_what_syncs_a_child_selected_alone_included(
    sandbox, base_config
):
    """`TapBranch.setup_mapper` registers the selected streams and the parents of selected
    ones (a parent's first map decides which of its records' children sync): a catalog
    selecting only `scheduled_export_rows` syncs its rows through the jobs' maps."""
    from tap_branch.tap import TapBranch

    by_default = TapBranch(config=base_config, parse_env_config=False)
    assert set(by_default.mapper.stream_maps) == {
        name for name, stream in by_default.streams.items() if stream.selected
    }
    assert "events" in by_default.mapper.stream_maps
    assert "custom_eo_install" not in by_default.mapper.stream_maps

    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    catalog = _catalog(config, "scheduled_export_rows")
    child_only = TapBranch(config=config, catalog=catalog, parse_env_config=False)
    assert set(child_only.mapper.stream_maps) == {"scheduled_export_jobs", "scheduled_export_rows"}
    run = run_tap(config, catalog=catalog)
    assert run.error is None
    assert run.streams_with_records == {"scheduled_export_rows"}


# --- a catalog file: what a deselected stream's entry carries is not kept ----------------------


def _read(catalog: dict):
    return catalog_file(io.StringIO(json.dumps(catalog)))


def test_a_catalog_file_keeps_only_the_root_of_deselected_streams_entries(sandbox, base_config):
    """A catalog of every stream is ~1.2 MB of JSON: the schemas and fields' metadata of the
    streams it deselects were ~7 MB of the tap's memory for the whole run. Their entries
    keep their root metadata (still deselected); the selected ones are read whole."""
    catalog = _catalog(base_config, "links", "events")
    read = _read(catalog)
    assert set(read) == {entry["tap_stream_id"] for entry in catalog["streams"]}
    for stream_id, entry in read.items():
        if stream_id in ("links", "events"):
            assert entry.schema.to_dict() == _entry(catalog, stream_id)["schema"]
            assert len(entry.metadata) == len(_entry(catalog, stream_id)["metadata"])
        else:
            assert entry.schema == Schema(), stream_id
            assert list(entry.metadata) == [()], stream_id
            assert entry.metadata.root.selected is False
    run = run_tap(base_config, catalog=read)
    assert run.error is None
    assert run.streams_with_records == {"links", "events"}


def test_a_parent_deselected_in_a_catalog_file_still_syncs_its_child_with_its_own_schema(
    sandbox, base_config
):
    """`scheduled_export_jobs`, deselected, is read as the parent of the selected rows: its
    entry, read without a schema, stands for the stream's own (its maps, its bookmarks)."""
    from tap_branch.tap import TapBranch

    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    catalog = _catalog(config, "scheduled_export_rows")
    tap = TapBranch(config=config, catalog=_read(catalog), parse_env_config=False)
    whole = TapBranch(config=config, catalog=catalog, parse_env_config=False)
    jobs = tap.streams["scheduled_export_jobs"]
    assert tap.input_catalog["scheduled_export_jobs"].schema == Schema()
    assert jobs.effective_schema == jobs.schema == whole.streams[jobs.name].effective_schema
    for name in ("scheduled_export_jobs", "scheduled_export_rows"):
        maps, whole_maps = tap.mapper.stream_maps[name], whole.mapper.stream_maps[name]
        assert [m.raw_schema for m in maps] == [m.raw_schema for m in whole_maps], name
    run = run_tap(config, catalog=_read(catalog))
    assert run.error is None
    assert run.streams_with_records == {"scheduled_export_rows"}
    with_whole_entries = run_tap(config, catalog=catalog)
    assert run.records("scheduled_export_rows") == with_whole_entries.records(
        "scheduled_export_rows"
    )


def test_a_catalog_file_that_is_not_a_catalog_is_still_named(tmp_path):
    """Read entry by entry where it can be, the file is read whole where it cannot, and what
    is wrong is named as before."""
    from tap_branch.errors import InvalidCatalogError

    for text, said in [
        ("{not json", "is not JSON"),
        ("[1, 2]", "holds a JSON list"),
        ('{"streams": "links"}', "not a Singer catalog"),
        ('{"streams": [{"metadata": []}]}', "not a Singer catalog"),
        ('{"streams": [1]}', "not a Singer catalog"),
    ]:
        path = tmp_path / "catalog.json"
        path.write_text(text)
        with path.open() as file, pytest.raises(InvalidCatalogError, match=said) as raised:
            catalog_file(file)
        assert str(path) in str(raised.value)
