"""The SDK capabilities meltano.yml declares, working on this tap's streams.

`emit_activate_version_messages`: full-table streams announce a table version, and
their records carry it, so a target can drop the rows a later full read no longer has.
`batch_config`: records go to files, announced by BATCH messages.
"""

from __future__ import annotations

import gzip
import json
import pathlib

from tests.support.tap_runner import run_tap

FULL_TABLE = ["credit_balances", "app_config"]


def _config(base_config: dict, **extra) -> dict:
    return {
        **base_config,
        "credit_identities": ["user-1", "user-2"],
        "user_id": "dashboard_user_sandbox",
        **extra,
    }


def test_full_table_streams_emit_activate_version_before_their_versioned_records(
    sandbox, base_config
):
    run = run_tap(
        _config(base_config, emit_activate_version_messages=True),
        select=[*FULL_TABLE, "links"],
    )
    assert run.error is None
    for stream in FULL_TABLE:
        messages = [m for m in run.messages if m.get("stream") == stream]
        kinds = [m["type"] for m in messages]
        assert kinds.count("ACTIVATE_VERSION") == 1, kinds
        activate = next(m for m in messages if m["type"] == "ACTIVATE_VERSION")
        records = [m for m in messages if m["type"] == "RECORD"]
        assert records, stream
        # Announced before any record, and every record belongs to that version.
        assert kinds.index("ACTIVATE_VERSION") < kinds.index("RECORD")
        assert {m.get("version") for m in records} == {activate["version"]}
    # Incremental streams keep their rows across runs: no table version for them.
    links = [m for m in run.messages if m.get("stream") == "links"]
    assert "ACTIVATE_VERSION" not in {m["type"] for m in links}
    assert run.records("links")
    assert all("version" not in m for m in links if m["type"] == "RECORD")


def test_no_activate_version_unless_asked(sandbox, base_config):
    run = run_tap(_config(base_config), select=FULL_TABLE)
    assert run.error is None and run.records("credit_balances") and run.records("app_config")
    assert not [m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]
    assert not [m for m in run.messages if m["type"] == "RECORD" and "version" in m]


def test_batch_files_hold_the_same_rows_as_record_messages(sandbox, base_config, tmp_path):
    records = run_tap(base_config, select=["links"]).records("links")
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri(), "prefix": "links-"},
    }
    run = run_tap({**base_config, "batch_config": batch_config}, select=["links"])
    assert run.error is None and run.records("links") == []
    batches = [m for m in run.messages if m["type"] == "BATCH"]
    assert batches and {m["stream"] for m in batches} == {"links"}
    rows = []
    for message in batches:
        for url in message["manifest"]:
            path = pathlib.Path(url.removeprefix("file://"))
            assert path.parent == tmp_path
            with gzip.open(path, "rt") as lines:
                rows.extend(json.loads(line) for line in lines)
    assert records and sorted(rows, key=json.dumps) == sorted(records, key=json.dumps)
