"""BATCH files in object storage: `batch_config.storage.root` "s3://bucket/prefix", written to a
local S3 server the tests start (moto's server mode, tests/support/s3_server.py), reached through the
usual AWS settings. (tests/external/test_postgres.py loads such files with target-postgres.)"""

from __future__ import annotations

import gzip
import io
import types
import typing as t

import msgspec
import pyarrow.parquet as pq
import pytest
import s3fs

from tap_branch.output.parquet import arrow_schema
from tests.e2e.test_parquet_batches import _as_record
from tests.support.s3_server import S3Server, start_s3
from tests.support.sandbox import DAILY_STREAMS, days_back
from tests.support.tap_runner import run_tap


@pytest.fixture(scope="module")
def s3_server() -> t.Iterator[S3Server]:
    server = start_s3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch) -> t.Iterator[S3Server]:
    """The server, with the AWS settings pointing at it (s3fs clients are cached per
    arguments, not per environment: the cache is cleared around each test)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    s3fs.S3FileSystem.clear_instance_cache()
    yield s3_server
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def days(sandbox, base_config) -> dict:
    sandbox.options(
        daily_rows={"links": 40, "link_clicks": 70, "events": 90}, daily_rows_per_file=30
    )
    return {**base_config, "start_date": days_back(3)[0].isoformat()}


def _batch_config(s3: S3Server, run: str, encoding: dict) -> dict:
    return {
        "encoding": encoding,
        "storage": {"root": f"s3://{s3.bucket}/{run}", "prefix": "branch-"},
        "batch_size": 50,
    }


def _announced(run) -> list[str]:
    return [u for m in run.messages if m["type"] == "BATCH" for u in m["manifest"]]


def _records_in(s3: S3Server, url: str) -> list[dict]:
    data = s3.fs().cat_file(url)
    if url.endswith(".parquet"):
        return pq.read_table(io.BytesIO(data)).to_pylist()
    return [msgspec.json.decode(line) for line in gzip.decompress(data).splitlines()]


@pytest.mark.parametrize("encoding", ["jsonl", "parquet"])
def test_batch_files_are_written_to_s3_and_named_by_s3_urls(s3, days, encoding):
    plain = run_tap(days, select=DAILY_STREAMS)
    config = {**days, "batch_config": _batch_config(s3, f"ok-{encoding}", {"format": encoding, "compression": "gzip"})}  # fmt: skip
    run = run_tap(config, select=DAILY_STREAMS)
    assert run.error is None
    announced = _announced(run)
    assert announced and all(
        u.startswith(f"s3://{s3.bucket}/ok-{encoding}/branch-") for u in announced
    )
    # Everything in the bucket was announced (the write check's probe was deleted), and back.
    assert s3.objects(f"ok-{encoding}") == set(announced)
    for stream in DAILY_STREAMS:
        urls = [u for m in run.messages if m["type"] == "BATCH" and m["stream"] == stream for u in m["manifest"]]  # fmt: skip
        loaded = [r for url in urls for r in _records_in(s3, url)]
        expected = plain.records(stream)
        assert len(loaded) == len(expected) > 0
        if encoding == "parquet":
            schema = arrow_schema(next(m["schema"] for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream))  # fmt: skip
            loaded = [
                _as_record(row, schema, like) for row, like in zip(loaded, expected, strict=True)
            ]
        assert loaded == expected
    assert run.state == plain.state


def test_a_day_that_fails_leaves_no_object_in_s3(s3, sandbox, days):
    day = days_back(1)[0].isoformat()
    sandbox.fault(
        kind="truncate", path=f"/files/daily/sandbox-app/{day}/events/1-", fraction=0.5, times=-1
    )
    config = {
        **days,
        "batch_config": _batch_config(s3, "failed", {"format": "jsonl", "compression": "gzip"}),
        "max_retries": 1,
    }
    run = run_tap(config, select=["events"], expect_error=True)
    assert run.error is not None and day in str(run.error)
    announced = _announced(run)
    assert announced  # the days before
    assert s3.objects("failed") == set(announced)  # the failed day's first file is gone


def test_a_missing_bucket_is_named_and_never_created(s3, days):
    batch_config = _batch_config(s3, "x", {"format": "jsonl", "compression": "gzip"})
    batch_config["storage"]["root"] = "s3://tap-branch-no-such-bucket/x"
    run = run_tap({**days, "batch_config": batch_config}, select=["links"], expect_error=True)
    message = str(run.error)
    assert "'batch_config'" in message and "'tap-branch-no-such-bucket'" in message
    assert "does not exist" in message
    assert not s3.fs().exists("tap-branch-no-such-bucket")
    assert not [m for m in run.messages if m["type"] in ("RECORD", "BATCH")]


def test_a_file_system_package_not_installed_is_named_with_the_setting(days, tmp_path):
    # gcsfs is not installed here, as s3fs is not without the 's3' extra: fsspec names it.
    batch_config = {
        "encoding": {"format": "jsonl", "compression": "gzip"},
        "storage": {"root": "gs://some-bucket/x"},
    }
    run = run_tap({**days, "batch_config": batch_config}, select=["links"], expect_error=True)
    message = str(run.error)
    assert "'batch_config'" in message and "gcsfs" in message and "tap-branch[s3]" in message
    assert not [m for m in run.messages if m["type"] in ("RECORD", "BATCH")]


def test_a_bucket_gone_after_the_check_is_not_created_by_writing_a_file(s3):
    # The storage check looks the bucket up once; a file written later must not make an
    # object store's "mkdir" (s3fs creates the bucket) bring back a bucket someone removed.
    from tap_branch.output import batch_files as batches

    # What the writer reads of the SDK's `StorageTarget` (the batch config's storage).
    storage = types.SimpleNamespace(root="s3://tap-branch-removed-bucket/run", params={})
    with pytest.raises(FileNotFoundError), batches._open(storage, "b-1.json.gz") as handle:
        handle.write(b"{}\n")
    assert not s3.fs().exists("tap-branch-removed-bucket")
