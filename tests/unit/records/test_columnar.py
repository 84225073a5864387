"""The columnar file path (`tap_branch.records.columnar`) against the row path (`tap_branch.records.typers`).

The row path is the reference: for the same file, both give the same records, key for
key and in the same order, including cells that do not parse, unknown columns and rows
of another width. BATCH messages carry the same records as RECORD messages.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import pathlib
import threading

import msgspec
import pytest

from tap_branch.files import csv_batches as csv_batches_module
from tap_branch.files.checks import UnexpectedContent
from tap_branch.files.csv_batches import Pace, RowPathNeeded, csv_batches
from tap_branch.files.downloads import csv_rows
from tap_branch.records.columnar.typer import ColumnarTyper
from tap_branch.records.items import RowBatch
from tap_branch.records.schemas.event_topics import EO_TOPICS
from tap_branch.records.typers import RowTyper
from tap_branch.streams.daily.v1 import EventsStream
from tests.support.sandbox import DAILY_STREAMS, days_back, small_batches
from tests.support.tap_runner import run_tap

CONSTANTS = {"app_id": "app-1", "export_date": "2026-03-08T00:00:00+00:00"}

# One column of each kind, and the cells that test each kind's bulk forms and its fallbacks.
HEADER = ["id", "name", "timestamp", "metadata", "first_referring_link_tags", "surprise"]
CELLS = {
    "name": [
        "PURCHASE",
        "",
        'say "hi"',
        "back\\slash",
        "tab\there",
        "new\nline",
        "bell\x07",
        "ünïcode — 普通",
        "\x00nul",
        "'quoted'",
        "<html>",
    ],
    "timestamp": [
        "2026-03-08T01:02:03",
        "",
        "2026-03-08T01:02:03.456Z",
        "2026-03-08 01:02:03.456Z",
        "1772931723456",
        "1772931723000",
        "1772931723",
        "2026-02-30T01:02:03",
        "2026-03-08T24:00:00",
        "0000-03-08T01:02:03",
        "not-a-timestamp",
        "2026-03-08T01:02:03+0000",
        "2026-03-08T01:02:03+05:30",
        " 2026-03-08T01:02:03",
        "-1",
        "2026-03-08",
    ],
    "metadata": [
        '{"a":1}',
        "",
        '{"a": [1, 2.50, "x"], "b": {"c": null}}',
        ' {"a":1}',
        "[1]",
        "{",
        '{"a":1} {"b":2}',
        '{"big":1e999}',
        '{"s":"\\u00e9\\/"}',
        "null",
        "{}",
        '{\n "a": [1,\r\n 2]\n}',  # whitespace that would cut the record's line
        '{"a":1}\n',
    ],
    "first_referring_link_tags": [
        "[]",
        "",
        "['iOS']",
        "['vip', 'q3']",
        "[\"it's\", 'vip']",
        '["json","list"]',
        "['a','b']",
        "[1, 2]",
        "{}",
        "['unclosed'",
        '["x"] ',
    ],
    "surprise": ["", "kept", "", "also kept"],
}


def _rows(count: int) -> list[list[str]]:
    rows = []
    for number in range(count):
        row = [str(1000 + number)]
        for column in HEADER[1:]:
            cells = CELLS[column]
            # Mostly the usual first cell, so whole batches take the bulk forms too.
            row.append(cells[number % len(cells)] if number % 3 == 0 else cells[0])
        rows.append(row)
    return rows


def _csv(header: list[str], rows: list[list[str]], *, bom: bool = False) -> bytes:
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return ("\ufeff" if bom else "").encode() + text.getvalue().encode()


def _row_path(schema: dict, data: bytes, **typer: object) -> list[dict]:
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(data), encoding="utf-8-sig", newline=""))
    header = next(reader)
    row_typer = RowTyper(schema, header, source="file", constants=CONSTANTS, **typer)
    return [row_typer(cells) for cells in reader if cells]


def _columnar(schema: dict, data: bytes, batch_bytes: int, **typer: object) -> list[dict]:
    records: list[dict] = []
    columnar = None
    for batch in csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"], batch_bytes=batch_bytes):
        columnar = columnar or ColumnarTyper(
            schema, batch.schema.names, source="file", constants=CONSTANTS, **typer
        )
        records.extend(RowBatch(columnar, batch).records())
    return records


def _same_records(new: list[dict], old: list[dict]) -> None:
    assert len(new) == len(old)
    for position, (got, expected) in enumerate(zip(new, old, strict=True)):
        assert got == expected, (
            position,
            {
                k: (expected.get(k), got.get(k))
                for k in {*got, *expected}
                if got.get(k) != expected.get(k)
            },
        )
        assert list(got) == list(expected), position  # same keys, same order


@pytest.mark.parametrize("batch_bytes", [1 << 20, 700])
def test_every_kind_of_cell_gives_the_row_paths_record(batch_bytes):
    data = _csv(HEADER, _rows(300), bom=True)
    schema = EventsStream.schema
    old = _row_path(schema, data)
    new = _columnar(schema, data, batch_bytes)
    _same_records(new, old)
    # The cases really happened: bad cells kept raw, the unknown column kept as text.
    assert any(r.get("unparsed_cells", {}).get("timestamp") == "not-a-timestamp" for r in new)
    assert any(r.get("unparsed_cells", {}).get("metadata") == "{" for r in new)
    assert any(r.get("extra_columns") == {"surprise": "kept"} for r in new)
    assert {"name": "new\nline"}.items() <= next(r for r in new if r["name"] == "new\nline").items()


def test_columns_empty_in_a_whole_batch_give_the_row_paths_nulls():
    # Whole batches where every column but the key is empty (each kind's shortcut), then
    # batches of every kind of cell.
    rows = [[str(number)] + [""] * (len(HEADER) - 1) for number in range(60)] + _rows(60)
    data = _csv(HEADER, rows)
    new = _columnar(EventsStream.schema, data, 400)
    _same_records(new, _row_path(EventsStream.schema, data))
    assert new[0]["timestamp"] is None and new[0]["metadata"] is None


def test_json_cells_broken_over_lines_stay_on_their_records_line():
    # Valid JSON whose whitespace holds line breaks: written as it came, it would cut the
    # record's line (a RECORD message, a BATCH file's line) in two.
    pretty = '{\n "a": [1,\r\n 2]\n}'
    rows = [[str(n), "x", "", pretty if n % 2 else '{"a":2}', "[]", ""] for n in range(20)]
    data = _csv(HEADER, rows)
    (batch,) = csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"])
    typer = ColumnarTyper(EventsStream.schema, batch.schema.names, source="file")
    lines = bytes(RowBatch(typer, batch).lines()).split(b"\n")
    assert len(lines) == 21 and lines[-1] == b""
    assert [json.loads(line)["metadata"] for line in lines[:2]] == [{"a": 2}, {"a": [1, 2]}]


def test_json_cells_whose_items_break_the_schema_are_kept_raw_on_both_paths():
    # Every cell a JSON array, so only the items' type (strings) tells the bad ones.
    rows = [[str(n), "x", "", "{}", '["a"]' if n % 3 else "[1, 2]", ""] for n in range(30)]
    data = _csv(HEADER, rows)
    new = _columnar(EventsStream.schema, data, 1 << 20)
    _same_records(new, _row_path(EventsStream.schema, data))
    assert new[0]["first_referring_link_tags"] is None
    assert new[0]["unparsed_cells"] == {"first_referring_link_tags": "[1, 2]"}
    assert new[1]["first_referring_link_tags"] == ["a"]


def test_deselected_properties_are_left_out_like_the_sdk_pops_them():
    data = _csv(HEADER, _rows(30))
    deselected = ("metadata", "unparsed_cells", "app_id")
    old = _row_path(EventsStream.schema, data)
    for record in old:
        for name in deselected:
            record.pop(name, None)
    new = _columnar(EventsStream.schema, data, 1 << 20, deselected=deselected)
    _same_records(new, old)


def test_a_row_of_another_width_hands_the_rest_of_the_file_to_the_row_path():
    rows = _rows(200)
    rows[150] = rows[150][:3]  # a short row, after some batches were read
    data = _csv(HEADER, rows)
    read = 0
    with pytest.raises(RowPathNeeded) as raised:
        for batch in csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"], batch_bytes=2048):
            read += batch.num_rows
    assert 0 < read <= 150
    assert "1150" not in str(raised.value)  # pyarrow's message quotes the row: not passed on


def test_batches_hold_their_rows_whatever_the_blocks_edges():
    """Batches of `batch_rows` rows, the last one the rest, in the file's order: rows of two
    blocks make one batch, and the rest of a block waits for the next (cut at the blocks'
    edges, every other batch was a few rows, each paying a whole batch's typing)."""
    rows = _rows(1000)
    data = _csv(HEADER, rows)
    pace = Pace(batch_bytes=1 << 20, block_bytes=4096, typed_ahead=1, batch_rows=96)
    batches = list(csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"], pace=pace))
    assert [batch.num_rows for batch in batches] == [96] * 10 + [40]
    assert [cell for batch in batches for cell in batch.column(0).to_pylist()] == [
        row[0] for row in rows
    ]


def test_wide_rows_make_batches_of_fewer_rows():
    """Where the blocks' rows weigh `batch_bytes` before `batch_rows` are read, a batch holds
    what those blocks hold (the memory of a batch of wide rows stays bounded)."""
    rows = _rows(1000)
    data = _csv(HEADER, rows)
    pace = Pace(batch_bytes=8192, block_bytes=4096, typed_ahead=1, batch_rows=1024)
    batches = list(csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"], pace=pace))
    assert len(batches) > 1
    assert max(batch.nbytes for batch in batches) < 3 * 8192
    assert sum(batch.num_rows for batch in batches) == 1000


def test_a_batch_holds_about_the_same_json_however_much_its_rows_weigh():
    """Rows are cut by the JSON their records make (`Pace.lines_bytes`), rounded down to a
    quarter of their power of two (the allocator's sizes): a row of empty cells still makes `"name":null` for each, so it weighs less than a
    row of full cells, not nothing, and its batches hold more rows, not unboundedly more."""
    header = ["id"] + [f"column_{number:02}" for number in range(39)]
    lines_bytes = 1 << 20
    pace = Pace(
        batch_bytes=64 << 20,
        block_bytes=64 << 10,
        typed_ahead=1,
        batch_rows=1 << 16,
        lines_bytes=lines_bytes,
    )
    sizes = {}
    for kind, cell in [("empty", ""), ("full", "x" * 40)]:
        rows = [[str(number)] + [cell] * 39 for number in range(12000)]
        record = {name: cell or None for name, cell in zip(header, rows[5000], strict=True)}
        per_row = len(msgspec.json.encode(record))
        body = io.BufferedReader(io.BytesIO(_csv(header, rows)))
        sizes[kind] = [batch.num_rows for batch in csv_batches(body, ["id"], pace=pace)]
        assert sum(sizes[kind]) == 12000
        for rows_count in sizes[kind][:-1]:
            step = 1 << (rows_count.bit_length() - 3)
            assert rows_count % step == 0, kind
            # The estimate of the JSON is within 5% of the records' JSON.
            assert rows_count * per_row <= lines_bytes * 1.05, kind
            assert (rows_count + step) * per_row > lines_bytes * 0.95, kind
    assert sizes["empty"][0] > 2 * sizes["full"][0]


def test_a_column_of_distinct_cells_among_empty_ones_is_checked_in_bulk(monkeypatch):
    """A column empty in most rows held ~30 distinct objects in its first 256 cells:
    counted with the empty cell, it looked like a column of few, and ~125 cells a batch were
    typed one by one in Python, each new. A column whose few cells repeat (tags) still is."""
    import pyarrow as pa

    from tap_branch.records import typers as rows
    from tap_branch.records.columnar import encode

    typed = []
    typed_cell = encode._typed_cell
    monkeypatch.setattr(
        encode, "_typed_cell", lambda convert, cell: typed.append(cell) or typed_cell(convert, cell)
    )
    objects = rows.JsonConverter(dict, None)
    sparse = pa.array(["" if n % 9 else json.dumps({"id": n}) for n in range(1024)])
    assert encode._by_distinct_cell(sparse, objects) is None
    assert typed == []
    tags = rows.JsonConverter(list, None)
    repeating = pa.array(["" if n % 5 else json.dumps([f"tag{n % 7}"]) for n in range(1024)])
    assert encode._by_distinct_cell(repeating, tags) is not None
    assert sorted(set(typed)) == sorted({json.dumps([f"tag{n}"]) for n in range(7)})


def _cells(data: bytes, batch_bytes: int) -> list[str]:
    body = io.BufferedReader(io.BytesIO(data))
    return [
        cell
        for batch in csv_batches(body, ["id"], batch_bytes=batch_bytes)
        for cell in batch.column(1).to_pylist()
    ]


def test_characters_cut_by_a_block_end_are_read_whole():
    # Characters of two, three and four bytes, cut by block ends at every offset.
    names = [("é€𝄞" * (number % 4)) + str(number) for number in range(400)]
    data = _csv(["id", "name"], [[str(n), name] for n, name in enumerate(names)])
    for batch_bytes in range(200, 212):
        assert _cells(data, batch_bytes) == names, batch_bytes


@pytest.mark.parametrize(
    "bad", [b"\xff", b"\xe2\x82", b"\xed\xa0\x80"], ids=["a stray byte", "a cut €", "a surrogate"]
)
@pytest.mark.parametrize("where", ["mid-file", "at the end"])
def test_text_that_is_not_utf8_goes_to_the_row_path(bad, where):
    rows = [[str(n), f"name {n} é"] for n in range(300)]
    data = _csv(["id", "name"], rows)
    data = data[:4000] + bad + data[4000:] if where == "mid-file" else data + bad
    read = 0
    with pytest.raises(RowPathNeeded, match="not UTF-8"):
        for batch in csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"], batch_bytes=512):
            read += batch.num_rows
    assert read < 300


class _BrokenBody(io.RawIOBase):
    """A body whose transfer breaks after `good` bytes."""

    def __init__(self, data: bytes, good: int) -> None:
        self._data, self._good, self._at = data, good, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._at >= self._good:
            raise ConnectionResetError("the transfer broke")
        size = min(len(buffer), self._good - self._at)
        buffer[:size] = self._data[self._at : self._at + size]
        self._at += size
        return size


@pytest.mark.parametrize("good", [3000, 5107, 9000, 20000])
def test_a_broken_transfer_raises_its_own_error_after_whole_rows_only(good):
    # The break falls inside a cell: the cut row still has both columns, yet must not be given.
    rows = [[str(number), f"name number {number}"] for number in range(1500)]
    data = _csv(["id", "name"], rows)
    body = io.BufferedReader(_BrokenBody(data, good), buffer_size=1024)
    given: list[list[str]] = []
    with pytest.raises(ConnectionResetError):
        for batch in csv_batches(body, ["id"], batch_bytes=512):
            given.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
    assert [list(row) for row in given] == rows[: len(given)]
    assert len(_csv(["id", "name"], rows[: len(given)])) <= good


class _CountedBody(io.BufferedReader):
    reads = 0

    def read(self, size: int | None = -1) -> bytes:
        self.reads += 1
        return super().read(size)


@pytest.mark.parametrize("ahead", [csv_batches_module._BLOCKS_AHEAD, 1000])
def test_the_reader_reads_a_few_blocks_ahead_not_the_whole_file(monkeypatch, ahead):
    monkeypatch.setattr(csv_batches_module, "_BLOCKS_AHEAD", ahead)
    data = _csv(HEADER, _rows(600))
    body = _CountedBody(io.BytesIO(data))
    reads_ahead = []
    given = 0
    for _ in csv_batches(body, ["id"], batch_bytes=512):
        given += 1
        reads_ahead.append(body.reads - given)
    assert given > 50
    if ahead == 1000:  # pyarrow alone reads far ahead: the check below can fail
        assert max(reads_ahead) > 10
    else:
        assert max(reads_ahead) <= ahead


def test_a_quoted_header_goes_to_the_row_path():
    data = _csv(["id", 'na"me'], [["1", "a"]])
    with pytest.raises(RowPathNeeded):
        list(csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"]))


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (["event_id", "name"], "no 'id' column"),
        (["id", "name", "name"], "names 'name' more than once"),  # one's cells would be lost
    ],
)
def test_a_header_without_the_key_or_with_a_name_twice_is_refused_before_any_row(header, message):
    data = _csv(header, [["1", "a", "b"][: len(header)]])
    for read in (csv_batches, csv_rows):
        with pytest.raises(UnexpectedContent, match=message):
            list(read(io.BufferedReader(io.BytesIO(data)), ["id"]))


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (["", "a", "x"], "row ending at line 3 has an empty 'id' cell"),
        (['""'], "row ending at line 3 has 1 cells"),  # a line of just "": one empty cell
        (
            ["8"],
            "row ending at line 3 has 1 cells, its header 3",
        ),  # cut short: its cells never came
        (
            ["8", "a", "b", "c"],
            "row ending at line 3 has 4 cells, its header 3",
        ),  # joined to the next
    ],
)
def test_a_row_without_its_key_or_of_another_width_is_refused_by_both_paths(row, message):
    text = "id,name,more\r\n1,a,b\r\n" + ",".join(row) + "\r\n9,c,d\r\n"
    data = text.encode()
    with pytest.raises(UnexpectedContent, match=message):
        list(csv_rows(io.BufferedReader(io.BytesIO(data)), ["id"]))
    with pytest.raises(RowPathNeeded):  # the row path then reads on, and refuses the row
        list(csv_batches(io.BufferedReader(io.BytesIO(data)), ["id"]))


# --- through the tap, on the sandbox's files ----------------------------------------------


@pytest.fixture
def columnar_calls(monkeypatch) -> list:
    """One entry per batch the columnar path types: proof that it ran."""
    calls: list = []
    original = ColumnarTyper.lines
    monkeypatch.setattr(
        ColumnarTyper, "lines", lambda self, *a: calls.append(1) or original(self, *a)
    )
    return calls


@pytest.fixture
def daily_days(sandbox, base_config) -> dict:
    sandbox.options(
        daily_rows={"links": 40, "link_clicks": 70, "events": 90},
        daily_rows_per_file=30,
        daily_bad_cells=3,
        daily_extra_column="partner_field",
    )
    return {**base_config, "start_date": days_back(3)[0].isoformat()}


def _row_path_run(monkeypatch, config, **kwargs):
    return run_tap({**config, "columnar_files": False}, select=DAILY_STREAMS, **kwargs)


def test_the_tap_writes_the_same_records_on_both_paths(
    sandbox, daily_days, monkeypatch, columnar_calls
):
    calls = columnar_calls
    columnar = run_tap(daily_days, select=DAILY_STREAMS)
    assert calls, "the columnar path did not run"
    columnar_batches = len(calls)
    rows = _row_path_run(monkeypatch, daily_days)
    assert len(calls) == columnar_batches  # columnar_files false: the row path only
    for stream in DAILY_STREAMS:
        _same_records(columnar.records(stream), rows.records(stream))
        assert columnar.records(stream)
    assert any("unparsed_cells" in r for r in columnar.records("events"))
    assert any("extra_columns" in r for r in columnar.records("links"))
    assert columnar.state == rows.state
    # The SDK's record counter counts the batches' records.
    counted = sum(
        json.loads(line.split("METRIC: ", 1)[1])["value"]
        for line in columnar.logs.splitlines()
        if '"metric":"record_count"' in line and '"stream":"events"' in line
    )
    assert counted == len(columnar.records("events"))


def test_a_cut_line_in_a_file_fails_it_on_both_paths_naming_the_line(
    sandbox, daily_days, monkeypatch
):
    """A line cut in half joins the next one: its cells no longer sit under their columns.
    Both paths give the rows before it, then fail naming the file and the line."""
    day = days_back(2)[0].isoformat()
    sandbox.fault(
        kind="corrupt_line", path=f"/files/daily/sandbox-app/{day}/events/0-", line=12, times=-1
    )
    small_batches(monkeypatch, 256)  # some batches before the cut
    columnar = run_tap({**daily_days, "max_retries": 1}, select=["events"], expect_error=True)
    rows = run_tap(
        {**daily_days, "max_retries": 1, "columnar_files": False},
        select=["events"],
        expect_error=True,
    )
    assert "reading on row by row" in columnar.logs
    for run in (columnar, rows):
        assert f"/{day}/events/0-" in str(run.error)
        # Line 12, cut, runs on into line 13: one row of too many cells.
        assert "the row ending at line 13 has 76 cells, its header 54" in str(run.error)
    _same_records(columnar.records("events"), rows.records("events"))


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_batch_messages_carry_the_records_and_state_follows_each_day(
    sandbox, daily_days, tmp_path, monkeypatch, compression
):
    records = run_tap(daily_days, select=DAILY_STREAMS)
    batch_config = {
        "encoding": {"format": "jsonl", "compression": compression},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 50,
    }
    run = run_tap({**daily_days, "batch_config": batch_config}, select=DAILY_STREAMS)
    assert not [m for m in run.messages if m["type"] == "RECORD"]
    for stream in DAILY_STREAMS:
        loaded: list[dict] = []
        messages = [m for m in run.messages if m.get("stream") == stream or m["type"] == "STATE"]
        for position, message in enumerate(messages):
            if message["type"] != "BATCH":
                continue
            day_records = []
            for url in message["manifest"]:
                path = pathlib.Path(url.removeprefix("file://"))
                data = path.read_bytes()
                assert (data[:2] == b"\x1f\x8b") == (compression == "gzip")
                lines = (gzip.decompress(data) if compression == "gzip" else data).splitlines()
                assert 0 < len(lines) <= 50
                day_records.extend(msgspec.json.decode(line) for line in lines)
            # The next message is STATE, and its bookmark is the day these records belong to.
            following = messages[position + 1]
            assert following["type"] == "STATE"
            bookmark = following["value"]["bookmarks"][stream]["partitions"][0][
                "replication_key_value"
            ]
            assert {r["export_date"] for r in day_records} == {bookmark}
            loaded.extend(day_records)
        _same_records(loaded, records.records(stream))
    assert run.state == records.state, json.dumps([run.state, records.state])


@pytest.mark.parametrize("encoding", ["jsonl", "parquet"])
def test_a_failed_days_batch_files_are_deleted_not_left_beside_the_announced_ones(
    sandbox, daily_days, tmp_path, encoding
):
    # The last day's second events file breaks off every time: its first file's records are
    # already in batch files when the run fails.
    day = days_back(1)[0].isoformat()
    sandbox.fault(
        kind="truncate", path=f"/files/daily/sandbox-app/{day}/events/1-", fraction=0.5, times=-1
    )
    batch_config = {
        "encoding": {"format": encoding, "compression": "gzip"},
        "storage": {"root": tmp_path.as_uri()},
        "batch_size": 10,
    }
    run = run_tap(
        {**daily_days, "batch_config": batch_config, "max_retries": 1},
        select=["events"],
        expect_error=True,
    )
    assert run.error is not None and day in str(run.error)
    announced = {
        pathlib.Path(url.removeprefix("file://"))
        for message in run.messages
        if message["type"] == "BATCH"
        for url in message["manifest"]
    }
    assert announced  # the two days before
    assert set(tmp_path.iterdir()) == announced  # the failed day's first file's are gone


#: Every topic: each file has its own header (the columns Branch writes for that topic).
V3_STREAMS = [f"daily_{topic}" for topic in EO_TOPICS]


def test_daily_v3_topics_write_the_same_records_on_both_paths(sandbox, base_config, columnar_calls):
    config = {**base_config, "start_date": days_back(3)[0].isoformat()}
    calls = columnar_calls
    columnar = run_tap(config, select=V3_STREAMS)
    assert calls, "the columnar path did not run"
    rows = run_tap({**config, "columnar_files": False}, select=V3_STREAMS)
    for stream in V3_STREAMS:
        _same_records(columnar.records(stream), rows.records(stream))
    assert len(columnar.records("daily_eo_click")) > 100
    # The raw epoch-ms number beside its date-time (`RawMillis`) on the columnar path too.
    assert any(isinstance(r.get("timestamp_ms"), int) for r in columnar.records("daily_eo_click"))
    assert columnar.state == rows.state


def test_a_record_of_only_the_catch_all_fields_is_valid_json():
    data = _csv(HEADER, _rows(30))
    keep = {"unparsed_cells", "extra_columns", "timestamp"}
    deselected = tuple(name for name in EventsStream.schema["properties"] if name not in keep)
    old = _row_path(EventsStream.schema, data)
    for record in old:
        for name in deselected:
            record.pop(name, None)
    _same_records(_columnar(EventsStream.schema, data, 1 << 20, deselected=deselected), old)
    only_extra = tuple(n for n in EventsStream.schema["properties"] if n != "extra_columns")
    assert {"surprise": "kept"} in [
        r.get("extra_columns")
        for r in _columnar(EventsStream.schema, data, 1 << 20, deselected=only_extra)
    ]


SCHEDULED = ["scheduled_export_jobs", "scheduled_export_rows"]


def test_scheduled_csv_files_write_the_same_records_on_both_paths(
    sandbox, base_config, monkeypatch
):
    # sandbox-sub-1 exports csv (with a column the ontology lacks), sandbox-sub-2 json.
    calls = columnar_calls
    small_batches(monkeypatch, 2048)  # row numbers across batches
    columnar = run_tap(base_config, select=SCHEDULED)
    assert calls, "the columnar path did not run"
    rows = run_tap({**base_config, "columnar_files": False}, select=SCHEDULED)
    records = columnar.records("scheduled_export_rows")
    _same_records(records, rows.records("scheduled_export_rows"))
    csv_rows = [r for r in records if r["subscription_id"] == "sandbox-sub-1"]
    assert len(csv_rows) > 20 and any("extra_columns" in r for r in csv_rows)
    by_file: dict = {}
    for r in csv_rows:
        by_file.setdefault((r["job_id"], r["file_index"]), []).append(r["row_number"])
    assert all(numbers == list(range(1, len(numbers) + 1)) for numbers in by_file.values())
    assert columnar.state == rows.state


def test_a_cut_line_in_a_scheduled_csv_file_fails_it_on_both_paths(
    sandbox, base_config, monkeypatch
):
    sandbox.fault(
        kind="corrupt_line", path="/files/scheduled/sandbox-app/sandbox-sub-1/", line=9, times=-1
    )
    small_batches(monkeypatch, 1024)  # some batches before the cut
    config = {**base_config, "max_retries": 1}
    columnar = run_tap(config, select=SCHEDULED, expect_error=True)
    rows = run_tap({**config, "columnar_files": False}, select=SCHEDULED, expect_error=True)
    assert "reading on row by row" in columnar.logs
    assert "row ending at line 9 has 10 cells, its header 24" in str(columnar.error)
    assert str(columnar.error) == str(rows.error)
    _same_records(columnar.records("scheduled_export_rows"), rows.records("scheduled_export_rows"))


def test_blank_lines_longer_than_the_blocks_read_ahead_are_read_past_not_waited_on():
    """Opening the reader parses up to the first rows: blank lines filling more blocks than
    the pacing lets it read ahead once hung it forever, waiting for room no batch would make."""
    data = b"id,name\n" + b"\n" * 2000 + b"".join(b"%d,abc\n" % n for n in range(50))
    done = threading.Event()
    ids: list[str] = []

    def read_all() -> None:
        body = io.BufferedReader(io.BytesIO(data))
        for batch in csv_batches(body, ["id"], batch_bytes=64):  # 64-byte blocks, 3 ahead
            ids.extend(batch.column(0).to_pylist())
        done.set()

    threading.Thread(target=read_all, daemon=True).start()
    assert done.wait(30), "the reader waited for a block it was not allowed to read"
    assert ids == [str(n) for n in range(50)]
