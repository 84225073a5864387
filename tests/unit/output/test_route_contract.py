"""Contract: the fast record path writes exactly what the SDK's own record path writes.

`tap_branch.output.sdk_internals` is the one module that touches the SDK's privates; its fast record
path replaces the SDK's per-record work. Each case below syncs the same data twice, with the
fast path and with the SDK's own path (`FastRecordMixin.fast_records = False`), both clocks at
the same moment, and compares the whole output byte for byte: records, selection, stream maps,
flattening. An SDK upgrade that changes what the SDK writes breaks this test, not the product.

The daily files take the columnar path (`RowBatch` items, records built as JSON text a
batch of rows at a time, written with `Output.add_lines`) wherever the SDK's path would write records unchanged: without
stream maps and flattening. Those cases pin it to the SDK's output byte for byte too (the
sandbox's JSON cells are compact, so writing them as they came gives the SDK's bytes).
"""

from __future__ import annotations

import collections
import contextlib
import gzip
import io
import json
import logging
import time
import typing as t

import pytest
import singer_sdk.streams.core as sdk_core
from singer_sdk import metrics

from tap_branch import clock
from tap_branch.output.sdk_internals import FastRecordMixin
from tap_branch.output.writer import Output
from tap_branch.records.items import Checkpoint, RowBatch
from tap_branch.streams.daily.files import DailyFileStream
from tap_branch.streams.scheduled.streams import ScheduledExportRowsStream
from tap_branch.tap import TapBranch
from tests.support.tap_runner import run_tap

STREAMS = ["links", "events"]


def _catalog(config: dict, deselect: dict[str, list[str]]) -> dict:
    catalog = TapBranch(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            breadcrumb = metadata["breadcrumb"]
            if breadcrumb == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in STREAMS
            elif breadcrumb[-1] in deselect.get(entry["tap_stream_id"], []):
                metadata["metadata"]["selected"] = False
    return catalog


CASES = {
    "records": ({}, {}),
    "selection": ({}, {"links": ["url", "data", "campaign"], "events": ["name", "user_data"]}),
    "stream maps": (
        {
            "stream_maps": {
                "links": {"url_upper": "str(url).upper()", "campaign": None},
                "events": {"__filter__": "name != 'OPEN'", "__alias__": "events_renamed"},
            }
        },
        {},
    ),
    "flattening": ({"flattening_enabled": True, "flattening_max_depth": 1}, {}),
}


@pytest.mark.parametrize("case", CASES)
def test_fast_path_output_equals_the_sdk_path_output(sandbox, base_config, monkeypatch, case):
    extra, deselect = CASES[case]
    config = {**base_config, **extra}
    catalog = _catalog(config, deselect)
    # The SDK's own clock (its time_extracted, its bookmark signpost) is the tap's in both runs.
    monkeypatch.setattr(sdk_core, "utc_now", clock.now)
    batches = []
    add_lines = Output.add_lines
    monkeypatch.setattr(
        Output,
        "add_lines",
        lambda self, lines: batches.append(len(lines)) or add_lines(self, lines),
    )
    fast = run_tap(config, catalog=catalog)
    # The columnar path runs exactly where stream maps leave records as they are.
    assert bool(batches) == (case in ("records", "selection"))

    monkeypatch.setattr(FastRecordMixin, "fast_records", False)
    sdk = run_tap(config, catalog=catalog)

    records = [m for m in fast.messages if m["type"] == "RECORD"]
    assert len(records) > 100 and {m["stream"] for m in records} >= {"links"}
    assert fast.stdout == sdk.stdout


# --- the same records by every route -----------------------------------------------------


class _Metrics(logging.Handler):
    """The SDK's `record_count` METRIC totals, per stream."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: collections.Counter = collections.Counter()

    def emit(self, record: logging.LogRecord) -> None:
        point = record.getMessage().removeprefix("METRIC: ")
        point = json.loads(point) if point.startswith("{") else {}
        if point.get("metric") == "record_count":
            self.records[point["tags"]["stream"]] += point["value"]


@pytest.fixture
def record_counts() -> t.Iterator[_Metrics]:
    handler = _Metrics()
    logger = metrics.get_metrics_logger()
    level, logger.level = logger.level, logging.INFO
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _both_routes(monkeypatch, run: t.Callable[[], t.Any]) -> tuple[t.Any, t.Any, list[int]]:
    """`run` with the fast route, then with the SDK's own record path; the sizes of the
    batches of lines the fast route wrote."""
    monkeypatch.setattr(sdk_core, "utc_now", clock.now)
    batches: list[int] = []
    add_lines = Output.add_lines
    monkeypatch.setattr(
        Output,
        "add_lines",
        lambda self, lines: batches.append(len(lines)) or add_lines(self, lines),
    )
    fast = run()
    monkeypatch.setattr(FastRecordMixin, "fast_records", False)
    sdk = run()
    monkeypatch.undo()
    return fast, sdk, batches


def test_scheduled_rows_take_the_columnar_route_with_the_sdks_bytes(
    sandbox, base_config, monkeypatch, record_counts
):
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    select = ["scheduled_export_jobs", "scheduled_export_rows"]
    counted = []

    def run():
        record_counts.records.clear()
        done = run_tap(config, select=select)
        counted.append(dict(record_counts.records))
        return done

    fast, sdk, batches = _both_routes(monkeypatch, run)
    assert batches, "the rows' csv files took the columnar route"
    assert len(fast.records("scheduled_export_rows")) > 20
    assert fast.stdout == sdk.stdout
    # A batch of rows counts as its rows in the SDK's record_count metric.
    assert counted[0] == counted[1]
    assert counted[0]["scheduled_export_rows"] == len(fast.records("scheduled_export_rows"))


def test_record_count_metric_totals_are_the_records(
    sandbox, base_config, monkeypatch, record_counts
):
    counted = []

    def run():
        record_counts.records.clear()
        done = run_tap(base_config, select=STREAMS)
        counted.append(dict(record_counts.records))
        return done

    fast, _, batches = _both_routes(monkeypatch, run)
    assert batches
    assert counted[0] == counted[1] == {s: len(fast.records(s)) for s in STREAMS}


def test_airbyte_fast_route_writes_the_sdk_paths_bytes(sandbox, base_config, monkeypatch, tmp_path):
    from tap_branch.airbyte import source
    from tap_branch.airbyte.catalog import airbyte_catalog, parent_streams
    from tests.e2e.airbyte.test_protocol import configured

    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_123_456_789)
    tap = TapBranch(config=base_config, parse_env_config=False)
    catalog = airbyte_catalog(tap.catalog_dict, parent_streams(tap)).model_dump(
        mode="json", exclude_none=True
    )
    paths = {}
    for name, content in (("config", base_config), ("catalog", configured(catalog, ("links",)))):
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(content))

    def run() -> bytes:
        out = io.BytesIO()
        stdout = io.TextIOWrapper(out, write_through=True)
        with contextlib.redirect_stdout(stdout):
            source.read(str(paths["config"]), str(paths["catalog"]), None)
        stdout.flush()
        return out.getvalue()

    fast, sdk, batches = _both_routes(monkeypatch, run)
    assert batches
    assert fast.count(b'"type":"RECORD"') > 20
    assert fast == sdk


def _batch_records(messages: list[dict]) -> dict[str, list[dict]]:
    records: dict[str, list[dict]] = {}
    for message in messages:
        if message["type"] == "BATCH":
            for url in message["manifest"]:
                with gzip.open(url.removeprefix("file://")) as lines:
                    records.setdefault(message["stream"], []).extend(map(json.loads, lines))
    return records


def test_jsonl_batch_manifests_hold_exactly_the_record_runs_records(
    sandbox, base_config, monkeypatch, tmp_path
):
    monkeypatch.setattr(sdk_core, "utc_now", clock.now)
    config = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    select = [*STREAMS, "scheduled_export_jobs", "scheduled_export_rows"]
    record_run = run_tap(config, select=select)
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 50,
    }
    batch_run = run_tap({**config, "batch_config": batch_config}, select=select)
    in_files = _batch_records(batch_run.messages)
    assert set(in_files) == set(select)
    for stream in select:
        assert in_files[stream] == record_run.records(stream), stream
    # The same state at the end, whichever way the records went.
    assert batch_run.state == record_run.state


def test_items_are_no_tuples():
    """The SDK's record loop unpacks a tuple item as (record, child context)."""
    assert not isinstance(Checkpoint(bookmark="2024-01-01"), tuple)
    assert not issubclass(RowBatch, tuple)


def test_streams_of_batches_bookmark_by_hand(base_config):
    """A batch of rows is no record the SDK could bookmark: the streams that yield them have
    no bookmark records move (their state moves with `Checkpoint`s only)."""
    tap = TapBranch(config=base_config, parse_env_config=False)
    for stream in tap.streams.values():
        if isinstance(stream, (DailyFileStream, ScheduledExportRowsStream)):
            assert not (stream.bookmarks_per_record and stream.replication_key), stream.name
