"""One CSV export file as items (`tap_branch.files.pipeline.csv_items`), on the sandbox's files.

The columnar path and the row path give the same records; a file pyarrow cannot read to the
end goes on with the row path once, after the rows already given, with no row lost or given
twice, and row numbers (`number_rows`) run on across the switch.
"""

from __future__ import annotations

import itertools
import logging

import msgspec
import pytest

from tap_branch.config.apps import find_app
from tap_branch.files import pipeline
from tap_branch.files.csv_batches import RowPathNeeded, csv_batches
from tap_branch.files.downloads import FileReader, file_label
from tap_branch.files.pipeline import FileSource, csv_items
from tap_branch.records.items import RowBatch
from tap_branch.records.route import BATCH_FILES
from tap_branch.records.typers import Warnings
from tap_branch.streams.daily.files import midnight
from tap_branch.tap import TapBranch
from tests.support.sandbox import SANDBOX_APP, days_back, small_batches


@pytest.fixture
def events(sandbox, base_config):
    """The events stream of a tap on the sandbox, and the URL of the first events file of a day."""
    tap = TapBranch(config={**base_config, "max_retries": 1}, parse_env_config=False)
    stream = tap.streams["events"]
    day = days_back(2)[0]
    url = stream.manifest(find_app(stream.config, SANDBOX_APP), day)["events"][0]
    return stream, day, url


def _source(stream, day, url, **kwargs) -> FileSource:
    return FileSource(
        url,
        f"events file 1 of {day} ({file_label(url)})",
        constants={"app_id": SANDBOX_APP, "export_date": midnight(day)},
        schema_for=lambda header: stream.schema,
        key_columns=["id"],
        **kwargs,
    )


def _records(stream, source: FileSource, deselected) -> tuple[list[dict], int]:
    """The file's records as dicts, and how many came in batches."""
    records: list[dict] = []
    batched = 0
    for item in csv_items(
        FileReader(stream),
        source,
        deselected=deselected,
        route=BATCH_FILES,
        warnings=Warnings(stream.logger),
        logger=stream.logger,
    ):
        if isinstance(item, RowBatch):
            batched += item.count
            records.extend(item.records())
        else:
            records.append(msgspec.json.decode(msgspec.json.encode(item)))
    return records, batched


@pytest.mark.parametrize("number_rows", [False, True], ids=["plain", "numbered"])
def test_both_paths_give_the_same_records(events, monkeypatch, number_rows):
    stream, day, url = events
    small_batches(monkeypatch, 4096)  # the file in several batches
    source = _source(stream, day, url, number_rows=number_rows)
    rows, none_batched = _records(stream, source, None)
    columnar, batched = _records(stream, source, ())
    assert none_batched == 0 and batched == len(rows) > 20
    assert columnar == rows
    assert [list(record) for record in columnar] == [list(record) for record in rows]
    if number_rows:
        assert [record["row_number"] for record in rows] == list(range(1, len(rows) + 1))


def test_a_header_pyarrow_does_not_read_switches_to_rows_at_its_start(sandbox, events, caplog):
    """A quoted column name (the row path reads it as the name): the whole file by rows."""
    stream, day, url = events
    source = _source(stream, day, url)
    rows, _ = _records(stream, source, None)
    sandbox.fault(
        kind="header",
        path=file_label(url).split(sandbox.url)[1],
        rename={"name": '"name"'},
        times=-1,
    )
    sandbox.clear_requests()
    with caplog.at_level(logging.INFO):
        columnar, batched = _records(stream, source, ())
    switches = [r.getMessage() for r in caplog.records if "reading on row by row" in r.getMessage()]
    assert len(switches) == 1 and "the header is not plain" in switches[0], switches
    assert switches[0].endswith("reading on row by row after row 0.")
    assert batched == 0 and columnar == rows
    asked = [r for r in sandbox.requests_log() if file_label(url).endswith(r["path"])]
    assert len(asked) == 2, asked  # the file is read again by the row path


@pytest.mark.parametrize("number_rows", [False, True], ids=["plain", "numbered"])
def test_a_file_pyarrow_stops_reading_half_way_goes_on_by_rows_after_the_rows_given(
    sandbox, events, monkeypatch, caplog, number_rows
):
    """pyarrow hands over after a few batches: the row path reads the file again and goes on
    after the rows given, none lost or given twice, row numbers running on."""
    stream, day, url = events
    source = _source(stream, day, url, number_rows=number_rows)
    rows, _ = _records(stream, source, None)
    small_batches(monkeypatch, 4096)  # a few rows a batch

    def stopping(*args, **kwargs):
        batches = csv_batches(*args, **kwargs)
        yield from itertools.islice(batches, 3)
        raise RowPathNeeded("pyarrow cannot read a row of this file")

    monkeypatch.setattr(pipeline, "csv_batches", stopping)
    sandbox.clear_requests()
    with caplog.at_level(logging.INFO):
        columnar, batched = _records(stream, source, ())
    switches = [r.getMessage() for r in caplog.records if "reading on row by row" in r.getMessage()]
    assert len(switches) == 1, switches
    assert 0 < batched < len(rows)
    assert switches[0].endswith(f"reading on row by row after row {batched}.")
    assert columnar == rows
    if number_rows:
        assert [record["row_number"] for record in columnar] == list(range(1, len(rows) + 1))
    asked = [r for r in sandbox.requests_log() if file_label(url).endswith(r["path"])]
    assert len(asked) == 2, asked


def test_the_row_path_reads_on_from_the_fresh_url_a_403_gave(sandbox, events, caplog):
    """The signed URL expired before the columnar read: refreshed once, and the row path's
    second read of the file uses that fresh URL, not the expired one."""
    stream, day, url = events
    app = find_app(stream.config, SANDBOX_APP)
    source = _source(stream, day, url, refresh=lambda: stream._fresh_url(app, day, 0, url))
    rows, _ = _records(stream, source, None)
    path = file_label(url).split(sandbox.url)[1]
    sandbox.fault(kind="header", path=path, rename={"name": '"name"'}, times=-1)
    sandbox.expire_urls()
    sandbox.clear_requests()
    with caplog.at_level(logging.INFO):
        columnar, batched = _records(stream, source, ())
    assert batched == 0 and columnar == rows
    assert caplog.text.count("expired; asking Branch for a fresh one") == 1
    assert len([r for r in sandbox.requests_log() if "/export" in r["path"]]) == 1
