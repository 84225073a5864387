"""Singer BATCH messages end to end: the tap's CLI piped into meltanolabs-target-postgres, which
reads the batch files, loading a real PostgreSQL server the tests start (tests/support/postgres_server.py).

The daily v1 family (links, link_clicks, events) and one v3 topic (daily_eo_click) are read from
the sandbox four times, each into its own schema: plainly (RECORD messages) into `records`,
with `batch_config` jsonl/gzip into `batches`, parquet into `parquet`, and jsonl/gzip files in
S3 (a local S3 server, moto's: tests/support/s3_server.py; the target reads the s3:// URLs with s3fs)
into `s3`. The batch runs must emit
BATCH messages and no RECORD; their tables must hold the same rows as the RECORD load, typed the
same (timestamp, jsonb, bigint, boolean), every row equal; and a sample of rows, read back from
PostgreSQL, must equal what the tap sent in its RECORD messages. One difference is the target's,
checked as such: the SDK's batch reader hands the parquet JSON columns (objects, items of arrays
of objects) to the target as text, which target-postgres stores as jsonb strings; decoded, they
equal the RECORD load's (`_held_as_json_strings`).

Only the tap's CLI and config are used, so this tests whatever BATCH writer the tap has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time
import typing as t

import pyarrow as pa
import pytest

from tap_branch.output.parquet import arrow_type
from tests.support import TAP
from tests.support.postgres_server import PostgresServer
from tests.support.s3_server import S3Server, start_s3
from tests.support.sandbox import (
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    SandboxControl,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import select_only
from tests.support.target_postgres_env import target_postgres

STREAMS = ("links", "link_clicks", "events", "daily_eo_click")
#: JSON Schema kinds and the column type meltanolabs-target-postgres gives them. date-time is
#: `timestamp` (without time zone, the target's choice): PostgreSQL drops an offset on input, so
#: the sample comparison below, which reads these as UTC, checks that the tap sent UTC instants.
SQL_TYPES = {
    "date-time": "timestamp without time zone",
    "object": "jsonb",
    "array": "ARRAY",  # a PostgreSQL array (`_jsonb` of objects, `_text` of strings)
    "integer": "bigint",
    "boolean": "boolean",
}
#: Rows per table compared field by field with the tap's RECORD messages.
SAMPLE = 8


def _kind(schema: dict) -> str:
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "string" in types and schema.get("format") == "date-time":
        return "date-time"
    return next((k for k in ("object", "array", "integer", "boolean") if k in types), "other")


def _write_catalog(home: pathlib.Path, config: dict, selected: t.Collection[str]) -> None:
    """`home/catalog.json`: the tap's CLI discovery with `config` (written to `home/base.json`),
    only the `selected` streams selected."""
    (home / "base.json").write_text(json.dumps(config))
    discovered = subprocess.run(
        [str(TAP), "--config", str(home / "base.json"), "--discover"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
    )
    assert discovered.returncode == 0, discovered.stderr[-3000:]
    catalog = select_only(json.loads(discovered.stdout), selected)
    (home / "catalog.json").write_text(json.dumps(catalog))


@dataclasses.dataclass
class Load:
    """One tap run piped into the target: what the tap wrote, and how it ended."""

    schema: str
    messages: list[dict]
    tap_returncode: int
    tap_stderr: str
    target_returncode: int
    target_stderr: str
    seconds: float

    def of_type(self, kind: str, stream: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind and m.get("stream") == stream]

    def schemas(self) -> dict[str, dict]:
        return {m["stream"]: m for m in self.messages if m["type"] == "SCHEMA"}


def _pipe(
    tap_args: list[str], target_config: pathlib.Path, workdir: pathlib.Path, env: dict[str, str]
) -> Load:
    """`tap-branch ... | target-postgres --config ...`, keeping a copy of the tap's stdout;
    `env` added to both processes' environment."""
    started = time.monotonic()
    env = {**os.environ, **env}
    with (
        open(workdir / "tap.err", "wb") as tap_err,
        open(workdir / "target.err", "wb") as target_err,
        open(workdir / "tap.out", "wb") as copy,
    ):
        tap = subprocess.Popen(
            [str(TAP), *tap_args], stdout=subprocess.PIPE, stderr=tap_err, cwd=workdir, env=env
        )
        target = subprocess.Popen(
            [str(target_postgres()), "--config", str(target_config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=target_err,
            cwd=workdir,
            env=env,
        )

        def tee() -> None:
            assert tap.stdout and target.stdin
            feeding = True
            for chunk in iter(lambda: tap.stdout.read1(1 << 16), b""):
                copy.write(chunk)
                if feeding:
                    try:
                        target.stdin.write(chunk)
                    except BrokenPipeError:
                        # The target died (its exit code and stderr tell why); the tap is
                        # still drained, so it does not block on a full pipe.
                        feeding = False
            with contextlib.suppress(BrokenPipeError):
                target.stdin.close()

        copier = threading.Thread(target=tee, daemon=True)
        copier.start()
        tap_code = tap.wait(timeout=600)
        copier.join(timeout=600)
        target_code = target.wait(timeout=600)
    lines = (workdir / "tap.out").read_text().splitlines()
    return Load(
        schema=workdir.name,
        messages=[json.loads(line) for line in lines if line.strip()],
        tap_returncode=tap_code,
        tap_stderr=(workdir / "tap.err").read_text(errors="replace"),
        target_returncode=target_code,
        target_stderr=(workdir / "target.err").read_text(errors="replace"),
        seconds=time.monotonic() - started,
    )


@pytest.fixture(scope="module")
def postgres(postgres_server: PostgresServer) -> PostgresServer:
    """The worker's server (tests/external/conftest.py), without this module's schemas."""
    postgres_server.psql("DROP SCHEMA IF EXISTS records, batches, parquet, s3 CASCADE")
    return postgres_server


@pytest.fixture(scope="module")
def s3() -> t.Iterator[S3Server]:
    server = start_s3()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def loads(postgres: PostgresServer, s3: S3Server) -> t.Iterator[dict[str, Load]]:
    """The same sandbox read into four schemas: records, batches (jsonl.gz), parquet, and s3
    (jsonl.gz files in the local S3 server, which the tap and the target reach through the
    usual AWS settings in their environment)."""
    running = start_sandbox()
    home = pathlib.Path(tempfile.mkdtemp(prefix="tap-branch-batch-"))
    try:
        base = {
            "start_date": (utc_today() - dt.timedelta(days=3)).isoformat(),
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "access_token": SANDBOX_TOKEN,
            "app_id": SANDBOX_APP,
            "api_url": running.url,
            "api2_url": running.url,
            "backoff_factor": 0.05,
        }
        _write_catalog(home, base, STREAMS)

        batch_encodings = {
            "records": None,
            "batches": {"format": "jsonl", "compression": "gzip"},
            "parquet": {"format": "parquet", "compression": "gzip"},
            "s3": {"format": "jsonl", "compression": "gzip"},
        }
        loads = {}
        for schema, encoding in batch_encodings.items():
            workdir = home / schema
            workdir.mkdir()
            config = dict(base)
            if encoding:
                (workdir / "files").mkdir()
                root = f"s3://{s3.bucket}/runs" if schema == "s3" else (workdir / "files").as_uri()
                config["batch_config"] = {
                    "encoding": encoding,
                    "storage": {"root": root, "prefix": f"{schema}-"},
                }
            (workdir / "tap.json").write_text(json.dumps(config))
            (workdir / "target.json").write_text(json.dumps(postgres.target_config(schema)))
            tap_args = ["--config", str(workdir / "tap.json"), "--catalog", str(home / "catalog.json")]  # fmt: skip
            env = s3.env() if schema == "s3" else {}
            loads[schema] = _pipe(tap_args, workdir / "target.json", workdir, env)
            print(f"{schema}: tap | target-postgres took {loads[schema].seconds:.1f} s")
        yield loads
    finally:
        running.stop()
        shutil.rmtree(home, ignore_errors=True)


def _loaded(load: Load) -> None:
    assert load.tap_returncode == 0, load.tap_stderr[-4000:]
    assert load.target_returncode == 0, load.target_stderr[-4000:]


def _columns(postgres: PostgresServer, schema: str, table: str) -> dict[str, str]:
    out = postgres.psql(
        "SELECT column_name, CASE data_type WHEN 'ARRAY' THEN 'ARRAY ' || udt_name "
        "ELSE data_type END FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' "
        "AND column_name NOT LIKE '\\_sdc\\_%' ORDER BY column_name"
    )
    return dict(line.split("|", 1) for line in out.splitlines())


def _count(postgres: PostgresServer, schema: str, table: str) -> int:
    return int(postgres.psql(f'SELECT count(*) FROM {schema}."{table}"'))


def test_the_record_run_loads_every_stream(loads, postgres):
    plain = loads["records"]
    _loaded(plain)
    assert not [m for m in plain.messages if m["type"] == "BATCH"]
    for stream in STREAMS:
        records = plain.of_type("RECORD", stream)
        assert records, f"{stream}: the sandbox served no rows to compare"
        assert _count(postgres, "records", stream) == len(records), stream


@pytest.mark.parametrize("schema", ["batches", "parquet", "s3"])
def test_batch_run_emits_batch_messages_and_loads_the_same_rows(loads, postgres, s3, schema):
    plain, batched = loads["records"], loads[schema]
    _loaded(plain)
    _loaded(batched)
    assert not [m for m in batched.messages if m["type"] == "RECORD"]
    encoding = {"batches": "jsonl", "parquet": "parquet", "s3": "jsonl"}[schema]
    for stream in STREAMS:
        batch_messages = batched.of_type("BATCH", stream)
        assert batch_messages, f"{stream}: no BATCH message in the {schema} run"
        assert all(m["encoding"]["format"] == encoding for m in batch_messages)
        urls = [url for m in batch_messages for url in m["manifest"]]
        if schema == "s3":  # every object announced is in the bucket, and nothing else
            assert all(url.startswith(f"s3://{s3.bucket}/runs/s3-") for url in urls), urls
        else:
            assert urls and all(pathlib.Path(url.removeprefix("file://")).exists() for url in urls)
        # The same SCHEMA message in both runs, so the same table.
        assert batched.schemas()[stream]["schema"] == plain.schemas()[stream]["schema"]
        expected = len(plain.of_type("RECORD", stream))
        assert _count(postgres, schema, stream) == expected, stream
    # State still advances: the batch run ends with the RECORD run's bookmarks.
    assert _final_state(batched) == _final_state(plain)
    if schema == "s3":
        announced = {u for m in batched.messages if m["type"] == "BATCH" for u in m["manifest"]}
        assert s3.objects("runs") == announced


def _final_state(load: Load) -> dict:
    states = [m["value"] for m in load.messages if m["type"] == "STATE"]
    return states[-1] if states else {}


@pytest.mark.parametrize("schema", ["batches", "parquet", "s3"])
def test_batch_load_is_typed_like_the_record_load_row_for_row(loads, postgres, schema):
    _loaded(loads["records"])
    _loaded(loads[schema])
    kinds_seen: set[str] = set()
    for stream, message in loads["records"].schemas().items():
        columns = _columns(postgres, "records", stream)
        assert _columns(postgres, schema, stream) == columns, stream
        for name, prop in message["schema"]["properties"].items():
            kind = _kind(prop)
            if kind in SQL_TYPES:
                family = "ARRAY" if columns[name].startswith("ARRAY ") else columns[name]
                assert family == SQL_TYPES[kind], (stream, name, prop, columns[name])
                kinds_seen.add(kind)
        # Every row, every column: nothing in one load that the other lacks (duplicates count).
        cols = ", ".join(f'"{c}"' for c in columns)
        loaded = cols
        if schema == "parquet":
            json_columns = _json_columns(message["schema"])
            assert json_columns and _held_as_json_strings(postgres, stream, json_columns)
            loaded = ", ".join(_decoded(c, json_columns.get(c)) for c in columns)
        for left, right in (("records", schema), (schema, "records")):
            difference = postgres.psql(
                f"SELECT to_jsonb(d) FROM (SELECT {cols if left == 'records' else loaded} "
                f'FROM {left}."{stream}" EXCEPT ALL SELECT '
                f'{cols if right == "records" else loaded} FROM {right}."{stream}") d LIMIT 3'
            )
            assert not difference, f"{stream}: rows in {left} and not in {right}:\n{difference}"
    assert kinds_seen == set(SQL_TYPES)


def _json_columns(schema: dict) -> dict[str, pa.DataType]:
    """The fields the tap writes into parquet as JSON text (objects; arrays of objects)."""
    found = {}
    for name, prop in schema["properties"].items():
        kind = arrow_type(prop)
        if kind == pa.json_() or kind == pa.list_(pa.json_()):
            found[name] = kind
    return found


def _held_as_json_strings(postgres: PostgresServer, stream: str, columns: dict) -> bool:
    """target-postgres 0.8.1 loads a parquet JSON column's text as it gets it from the
    SDK's batch reader (`pyarrow` `to_pylist`, singer-sdk 0.54): a jsonb *string* holding
    the object's JSON, where a RECORD load holds the object (docs/getting-started/postgresql.md). Checked, so a target
    or SDK that decodes the JSON type shows here and the decoding below can go."""
    objects = [c for c, kind in columns.items() if kind == pa.json_()]
    if not objects:
        return True
    kinds = postgres.psql(
        "SELECT DISTINCT jsonb_typeof(v) FROM (SELECT "
        + " UNION ALL SELECT ".join(f'"{c}" AS v FROM parquet."{stream}"' for c in objects)
        + ") j WHERE v IS NOT NULL"
    )
    # ('null': SQLAlchemy's JSON type binds None as JSON null, in every load alike.)
    return "string" in kinds.split() and set(kinds.split()) <= {"string", "null"}


def _text_decoded(value: str) -> str:
    return f"CASE jsonb_typeof({value}) WHEN 'string' THEN ({value} #>> '{{}}')::jsonb ELSE {value} END"


def _decoded(column: str, kind: pa.DataType | None) -> str:
    """SQL giving a parquet-loaded column as the RECORD load holds it: JSON text decoded."""
    quoted = f'"{column}"'
    if kind is None:
        return quoted
    if kind == pa.json_():
        return f"{_text_decoded(quoted)} AS {quoted}"
    items = _text_decoded("e")
    return (
        f"CASE WHEN {quoted} IS NULL THEN NULL ELSE ARRAY(SELECT {items} FROM "
        f"unnest({quoted}) WITH ORDINALITY AS u(e, n) ORDER BY n) END AS {quoted}"
    )


@pytest.mark.parametrize("schema", ["records", "batches", "parquet", "s3"])
def test_a_sample_of_rows_equals_what_the_tap_sent(loads, postgres, schema):
    """Read back from PostgreSQL, whole rows equal the tap's RECORD messages, typed."""
    plain = loads["records"]
    _loaded(plain)
    _loaded(loads[schema])
    compared: dict[str, int] = dict.fromkeys(SQL_TYPES, 0)
    for stream, message in plain.schemas().items():
        keys = message["key_properties"]
        assert keys, stream
        properties = message["schema"]["properties"]
        json_columns = _json_columns(message["schema"])
        records = sorted(
            (m["record"] for m in plain.of_type("RECORD", stream)),
            key=lambda r: [str(r[k]) for k in keys],
        )
        sample = records[:: max(1, len(records) // SAMPLE)][:SAMPLE]
        condition = " OR ".join(
            "(" + " AND ".join(f'"{k}"::text = {_literal(record[k])}' for k in keys) + ")"
            for record in sample
        )
        rows = [
            json.loads(line)
            for line in postgres.psql(
                f'SELECT to_jsonb(t) FROM {schema}."{stream}" t WHERE {condition}'
            ).splitlines()
        ]
        assert len(rows) == len(sample), stream
        by_key = {tuple(str(row[k]) for k in keys): row for row in rows}
        for record in sample:
            row = by_key[tuple(str(record[k]) for k in keys)]
            for name, prop in properties.items():
                want, got = record.get(name), row[name]
                if schema == "parquet" and got is not None and name in json_columns:
                    got = json.loads(got) if isinstance(got, str) else [json.loads(i) for i in got]
                assert _same(_kind(prop), want, got), (schema, stream, name, want, got)
                if want is not None and _kind(prop) in compared:
                    compared[_kind(prop)] += 1
    # Not vacuous: the sample held values of every kind.
    assert all(compared.values()), compared


def _literal(value: t.Any) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _same(kind: str, want: t.Any, got: t.Any) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if kind == "date-time":
        return _instant(want) == _instant(got)
    if isinstance(want, float) or isinstance(got, float):
        return float(want) == float(got)
    return want == got


def _instant(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def test_binaries_are_found_where_debian_puts_them(postgres):
    assert (postgres.bin / "pg_ctl").exists()
    assert postgres.psql("SHOW fsync").strip() == "off"
    assert os.path.isdir(postgres.data)


# The docs' SQL for the cells that did not parse, run on what target-postgres stores.
DATA_QUALITY_DOC = "docs/reference/data-quality.md"


@pytest.fixture(scope="module")
def quality_load(postgres: PostgresServer) -> t.Iterator[list[Load]]:
    """`events` of a sandbox whose files have cells that do not parse (the options of the
    columnar tests), piped as RECORD messages into schema `quality`: a first day without, a
    second day with a column the schema lacks, so that some rows have `extra_columns` and
    some do not."""
    running = start_sandbox(
        options={
            "daily_rows": {"links": 1, "link_clicks": 1, "events": 40},
            "daily_rows_per_file": 20,
            "daily_bad_cells": 3,
        }
    )
    home = pathlib.Path(tempfile.mkdtemp(prefix="tap-branch-quality-"))
    try:
        first, second = utc_today() - dt.timedelta(days=2), utc_today() - dt.timedelta(days=1)
        base = {
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "app_id": SANDBOX_APP,
            "api_url": running.url,
            "api2_url": running.url,
        }
        _write_catalog(home, {**base, "start_date": first.isoformat()}, ("events",))
        (home / "target.json").write_text(json.dumps(postgres.target_config("quality")))
        loads = []
        for day, options in ((first, {}), (second, {"daily_extra_column": "partner_field"})):
            if options:
                SandboxControl(running).options(**options)
            workdir = home / day.isoformat()
            workdir.mkdir()
            config = {**base, "start_date": day.isoformat(), "end_date": day.isoformat()}
            (workdir / "tap.json").write_text(json.dumps(config))
            tap_args = ["--config", str(workdir / "tap.json"), "--catalog", str(home / "catalog.json")]  # fmt: skip
            loads.append(_pipe(tap_args, home / "target.json", workdir, {}))
        yield loads
    finally:
        running.stop()
        shutil.rmtree(home, ignore_errors=True)


def _statements(sql: str) -> list[str]:
    """The statements of a SQL block, `-- comments` removed."""
    text = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
    return [s.strip() for s in text.split(";") if s.strip()]


def test_the_docs_queries_find_the_cells_that_did_not_parse(quality_load, postgres):
    from tests.docs.blocks import marked

    for load in quality_load:
        _loaded(load)
    records = [m["record"] for load in quality_load for m in load.of_type("RECORD", "events")]
    unparsed = [r for r in records if "unparsed_cells" in r]
    extra = [r for r in records if "extra_columns" in r]
    assert 0 < len(unparsed) < len(records) and 0 < len(extra) < len(records), (
        "the sandbox served no mix of rows with and without bad cells and extra columns"
    )

    def run(statement: str) -> list[list[str]]:
        out = postgres.psql(f"SET search_path TO quality; {statement};")
        return [line.split("|") for line in out.splitlines()[1:] if line]  # [0]: "SET"

    assert int(run("select count(*) from events")[0][0]) == len(records)
    # What the target stores for a record without the key: jsonb 'null', not SQL NULL (so
    # `is not null` finds every row: the docs say so, and query with jsonb_typeof).
    for column in ("unparsed_cells", "extra_columns"):
        [[stored]] = run(f"select count(*) from events where {column} is not null")
        assert int(stored) == len(records), column

    [block] = [b for b in marked("run: sql", DATA_QUALITY_DOC) if "unparsed_cells" in b.text]
    rows, keys, extra_keys = (run(s) for s in _statements(block.text))
    assert sorted(row[0] for row in rows) == sorted(r["id"] for r in unparsed)
    assert {row[0]: json.loads(row[1]) for row in rows} == {
        r["id"]: r["unparsed_cells"] for r in unparsed
    }
    counted: dict[str, int] = {}
    for record in unparsed:
        for key in record["unparsed_cells"]:
            counted[key] = counted.get(key, 0) + 1
    assert {key: int(count) for key, count in keys} == counted
    assert {row[0] for row in extra_keys} == {k for r in extra for k in r["extra_columns"]}
