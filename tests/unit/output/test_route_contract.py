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

import pytest
import singer_sdk.streams.core as sdk_core

from tap_branch import clock
from tap_branch.output.sdk_internals import FastRecordMixin
from tap_branch.output.writer import Output
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
