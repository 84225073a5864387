"""`tap-branch-airbyte` speaks the Airbyte protocol: every line it writes is an Airbyte message
(parsed by the protocol models), RECORDs match the Singer tap's records and the discovered schemas,
per-stream STATE goes back in, errors end with a TRACE message and exit status 1."""

from __future__ import annotations

import collections
import dataclasses
import json
import signal
import subprocess
import sys
import time

import jsonschema
import msgspec
import pytest
from airbyte_protocol.models import (
    AirbyteMessage,
    AirbyteRecordMessage,
    Status,
    TraceType,
    Type,
)

from tap_branch.airbyte.messages import AirbyteEnvelope
from tap_branch.airbyte.progress import SyncProgress
from tap_branch.output.writer import SingerEnvelope
from tests.support.sandbox import DAILY_STREAMS, SANDBOX_SECRET, SANDBOX_TOKEN
from tests.support.tap_runner import run_tap

SCHEDULED = ("scheduled_export_jobs", "scheduled_export_rows")


@dataclasses.dataclass
class Run:
    returncode: int
    messages: list[AirbyteMessage]
    raw: str

    @classmethod
    def of_output(cls, returncode: int, stdout: str) -> Run:
        """A run from its stdout; every line must parse as an Airbyte message."""
        messages = [AirbyteMessage.model_validate_json(line) for line in stdout.splitlines()]
        return cls(returncode, messages, stdout)

    def of(self, kind: Type) -> list[AirbyteMessage]:
        return [m for m in self.messages if m.type == kind]

    def record_counts(self) -> dict[str, int]:
        return dict(collections.Counter(m.record.stream for m in self.of(Type.RECORD)))

    def states(self) -> list[dict]:
        return [m.state.model_dump(mode="json", exclude_none=True) for m in self.of(Type.STATE)]


def airbyte_argv(*args: str, files: dict[str, object], tmp_path) -> list[str]:
    """The console script's command line, each of `files` written to `tmp_path` for its option."""
    argv = [sys.executable, "-m", "tap_branch.airbyte.cli", *args]
    for option, content in files.items():
        path = tmp_path / f"{option.strip('-')}.json"
        path.write_text(json.dumps(content))
        argv += [option, str(path)]
    return argv


def airbyte(*args: str, files: dict[str, object], tmp_path) -> Run:
    """Run the console script; every stdout line must parse as an Airbyte message."""
    argv = airbyte_argv(*args, files=files, tmp_path=tmp_path)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    run = Run.of_output(done.returncode, done.stdout)
    assert done.stderr == "", done.stderr  # everything is a message, logs included
    return run


def configured(catalog: dict, names: tuple[str, ...], mode: str = "incremental") -> dict:
    streams = [s for s in catalog["streams"] if s["name"] in names]
    return {
        "streams": [
            {
                "stream": stream,
                "sync_mode": mode if mode in stream["supported_sync_modes"] else "full_refresh",
                "destination_sync_mode": "append",
            }
            for stream in streams
        ]
    }


def check_progress(run: Run, names: tuple[str, ...]) -> None:
    """Airbyte's view of each configured stream: STARTED, RUNNING before its first record (if
    it has any), then COMPLETE after its last record and a last STATE; each STATE's
    `sourceStats.recordCount` is the stream's records since its previous STATE."""
    since_state: collections.Counter = collections.Counter()
    statuses: dict[str, list[str]] = {name: [] for name in names}
    for message in run.messages:
        if message.type == Type.RECORD:
            name = message.record.stream
            assert statuses[name][-1:] == ["RUNNING"], name
            since_state[name] += 1
        elif message.type == Type.STATE:
            name = message.state.stream.stream_descriptor.name
            assert statuses[name][-1:] == ["RUNNING"] or statuses[name] == ["STARTED"], name
            assert message.state.sourceStats.recordCount == since_state.pop(name, 0), name
        elif message.type == Type.TRACE and message.trace.type == TraceType.STREAM_STATUS:
            name = message.trace.stream_status.stream_descriptor.name
            status = message.trace.stream_status.status.value
            if status == "COMPLETE":
                assert since_state[name] == 0, f"{name}: records after its last STATE"
            statuses[name].append(status)
    counts = run.record_counts()
    for name in names:
        running = ["RUNNING"] if counts.get(name) else []
        assert statuses[name] == ["STARTED", *running, "COMPLETE"], name
    finals = [m.state.stream.stream_descriptor.name for m in run.of(Type.STATE)]
    assert set(names) <= set(finals)  # a STATE for every stream, even when nothing moved
    logs = [m.log.message for m in run.of(Type.LOG)]
    assert logs and not [line for line in logs if "METRIC" in line]


@pytest.fixture
def catalog(sandbox, base_config, tmp_path) -> dict:
    run = airbyte("discover", files={"--config": base_config}, tmp_path=tmp_path)
    assert run.returncode == 0, run.raw
    (message,) = run.of(Type.CATALOG)
    return message.catalog.model_dump(mode="json", exclude_none=True)


def test_record_envelope_is_the_models(monkeypatch):
    """The record paths frame RECORDs by hand, as a dict or as text around the record's JSON;
    both must be what the protocol model itself writes."""
    monkeypatch.setattr(time, "time_ns", lambda: 1_700_000_000_123_456_789)
    data = {"id": "1", "nested": {"a": [1, None]}, "when": "2024-01-01T00:00:00+00:00"}
    model = AirbyteMessage(
        type=Type.RECORD,
        record=AirbyteRecordMessage(stream='ev"ents', data=data, emitted_at=1_700_000_000_123),
    )
    expected = json.loads(model.model_dump_json(exclude_none=True, by_alias=True))
    envelope = AirbyteEnvelope()
    as_dict = msgspec.json.decode(
        msgspec.json.encode(envelope.message('ev"ents', data, None, None))
    )
    prefix, suffix = envelope.affixes('ev"ents', None, None)
    line = prefix + msgspec.json.encode(data).decode() + suffix
    assert line.endswith("\n") and line.count("\n") == 1
    assert as_dict == json.loads(line) == expected


def test_a_parents_state_goes_before_its_childs_whatever_their_names(capsys):
    """One Singer STATE that moves a parent's bookmark past a job and clears its child's marker
    inside that job becomes two Airbyte STATEs: the parent's first. Persisted alone, the child's
    (marker cleared, parent not past the job) would have the job's rows read and sent again."""
    progress = SyncProgress(
        ["a_rows", "z_jobs"], {"a_rows": "z_jobs"}, {"a_rows": "a_rows", "z_jobs": "z_jobs"}, {}
    )
    progress.start("z_jobs")
    progress.start("a_rows")
    capsys.readouterr()
    progress.singer_state({"bookmarks": {"z_jobs": {"at": "job-2"}, "a_rows": {"progress": None}}})
    states = [
        json.loads(line)["state"]["stream"]["stream_descriptor"]["name"]
        for line in capsys.readouterr().out.splitlines()
        if json.loads(line)["type"] == "STATE"
    ]
    assert states == ["z_jobs", "a_rows"]


def test_singer_envelope_affixes_are_its_messages():
    envelope = SingerEnvelope()
    data = {"id": "1"}
    for extracted, version in ((None, None), ("2024-01-01T00:00:00+00:00", 3)):
        prefix, suffix = envelope.affixes("events", extracted, version)
        line = prefix + msgspec.json.encode(data).decode() + suffix
        assert json.loads(line) == envelope.message("events", data, extracted, version)


def test_discover_declares_cursors_and_keys(catalog):
    streams = {s["name"]: s for s in catalog["streams"]}
    events = streams["events"]
    assert events["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert events["source_defined_cursor"] is True
    assert events["default_cursor_field"] == ["export_date"]
    assert events["source_defined_primary_key"] == [["app_id"], ["id"]]
    assert streams["app_config"]["supported_sync_modes"] == ["full_refresh"]
    assert "default_cursor_field" not in streams["app_config"]
    # a job's rows have no cursor of their own: they are incremental through their job's,
    # their event time following it
    rows = streams["scheduled_export_rows"]
    assert rows["supported_sync_modes"] == ["full_refresh", "incremental"]
    assert rows["source_defined_cursor"] is True
    assert rows["default_cursor_field"] == ["timestamp"]
    for stream in catalog["streams"]:
        schema = stream["json_schema"]
        jsonschema.validators.validator_for(schema).check_schema(schema)
        # Airbyte's rules: an incremental stream names its cursor, a field of its records
        if "incremental" in stream["supported_sync_modes"]:
            (cursor,) = stream["default_cursor_field"]
            assert cursor in schema["properties"], stream["name"]
        # and a stream without a primary key says why
        if not stream.get("source_defined_primary_key"):
            assert "no primary key" in schema["description"], stream["name"]
    assert "no primary key" in streams["custom_cost"]["json_schema"]["description"]


def test_read_equals_the_singer_run_and_state_goes_back_in(sandbox, base_config, catalog, tmp_path):
    names = (*DAILY_STREAMS, *SCHEDULED)
    chosen = configured(catalog, names)
    before = time.time() * 1000
    first = airbyte("read", files={"--config": base_config, "--catalog": chosen}, tmp_path=tmp_path)
    assert first.returncode == 0, first.raw[-2000:]
    singer = run_tap(base_config, select=names)
    assert first.record_counts() == {
        name: len(singer.records(name)) for name in names if singer.records(name)
    }
    # every record validates against the schema discovered for its stream
    schemas = {s["stream"]["name"]: s["stream"]["json_schema"] for s in chosen["streams"]}
    validators = {
        name: jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
        for name, schema in schemas.items()
    }
    for message in first.of(Type.RECORD):
        validators[message.record.stream].validate(message.record.data)
        assert before <= message.record.emitted_at <= time.time() * 1000
    # per-stream STATE, the last one of each stream holding that stream's Singer bookmarks
    states = first.states()
    assert {s["type"] for s in states} == {"STREAM"}
    last = {s["stream"]["stream_descriptor"]["name"]: s for s in states}
    assert last["events"]["stream"]["stream_state"] == {
        "events": singer.state["bookmarks"]["events"]
    }
    check_progress(first, names)

    second = airbyte(
        "read",
        files={"--config": base_config, "--catalog": chosen, "--state": list(last.values())},
        tmp_path=tmp_path,
    )
    assert second.returncode == 0, second.raw[-2000:]
    again = run_tap(base_config, state=singer.state, select=names)
    expected = {name: len(again.records(name)) for name in names if again.records(name)}
    assert second.record_counts() == expected
    assert set(expected) <= {"scheduled_export_jobs"}  # only jobs Branch has not finished
    check_progress(second, names)


def test_a_child_without_its_parent_in_the_catalog_keeps_the_parents_bookmarks(
    sandbox, base_config, catalog, tmp_path
):
    """Airbyte keeps state only for the streams of its catalog: the rows' state carries their
    jobs' bookmarks, or every run would read every job's rows again."""
    chosen = configured(catalog, ("scheduled_export_rows",))
    first = airbyte("read", files={"--config": base_config, "--catalog": chosen}, tmp_path=tmp_path)
    assert first.returncode == 0, first.raw[-2000:]
    states = first.states()
    assert {s["stream"]["stream_descriptor"]["name"] for s in states} == {"scheduled_export_rows"}
    carried = states[-1]["stream"]["stream_state"]
    assert set(carried) == set(SCHEDULED)
    singer = run_tap(base_config, select=["scheduled_export_rows"])
    assert first.record_counts() == {
        "scheduled_export_rows": len(singer.records("scheduled_export_rows"))
    }
    files = {"--config": base_config, "--state": states[-1:]}
    second = airbyte("read", files={**files, "--catalog": chosen}, tmp_path=tmp_path)
    assert second.returncode == 0 and second.record_counts() == {}
    refresh = configured(catalog, ("scheduled_export_rows",), mode="full_refresh")
    again = airbyte("read", files={**files, "--catalog": refresh}, tmp_path=tmp_path)
    assert again.record_counts() == first.record_counts()


def test_full_refresh_starts_over(sandbox, base_config, catalog, tmp_path):
    chosen = configured(catalog, ("links",))
    first = airbyte("read", files={"--config": base_config, "--catalog": chosen}, tmp_path=tmp_path)
    state = [m for m in first.states()][-1:]
    files = {"--config": base_config, "--state": state}
    incremental = airbyte("read", files={**files, "--catalog": chosen}, tmp_path=tmp_path)
    assert incremental.record_counts() == {}
    full = configured(catalog, ("links",), mode="full_refresh")
    refreshed = airbyte("read", files={**files, "--catalog": full}, tmp_path=tmp_path)
    assert refreshed.record_counts() == first.record_counts() != {}


def test_a_failing_read_ends_with_a_trace_error(sandbox, base_config, catalog, tmp_path):
    wrong = "secret_live_WRONG"
    run = airbyte(
        "read",
        files={
            "--config": {**base_config, "branch_secret": wrong},
            "--catalog": configured(catalog, ("links",)),
        },
        tmp_path=tmp_path,
    )
    assert run.returncode == 1
    trace = run.messages[-1]
    assert trace.type == Type.TRACE and trace.trace.type == TraceType.ERROR
    assert "Authentication failed" in trace.trace.error.message
    # the credentials are tried before any stream starts; a refused one is the user's to fix
    assert trace.trace.error.stream_descriptor is None
    assert trace.trace.error.failure_type.value == "config_error"
    assert statuses_of(run) == {"links": ["INCOMPLETE"]}
    assert trace.trace.error.stack_trace
    assert wrong not in run.raw and SANDBOX_SECRET not in run.raw


def test_a_credential_refused_by_a_stream_is_a_config_error(
    sandbox, base_config, catalog, tmp_path
):
    """Cohort results have no connection probe: their first job is the check of the token.
    Refused there, it is still the user's to fix (config_error), naming the setting and stream."""
    name = "cohort_installs_by_campaign"
    run = airbyte(
        "read",
        files={
            "--config": {**base_config, "access_token": "not-the-token"},
            "--catalog": configured(catalog, (name,)),
        },
        tmp_path=tmp_path,
    )
    assert run.returncode == 1
    error = run.messages[-1].trace.error
    assert "check setting 'access_token'" in error.message
    assert error.failure_type.value == "config_error"
    assert error.stream_descriptor.name == name


def statuses_of(run: Run) -> dict[str, list[str]]:
    statuses: dict[str, list[str]] = collections.defaultdict(list)
    for message in run.of(Type.TRACE):
        if message.trace.type == TraceType.STREAM_STATUS:
            name = message.trace.stream_status.stream_descriptor.name
            statuses[name].append(message.trace.stream_status.status.value)
    return dict(statuses)


def test_the_error_of_a_failing_stream_names_it(sandbox, base_config, catalog, tmp_path):
    sandbox.fault(kind="status", status=500, path="/files/scheduled/", times=-1)
    chosen = configured(catalog, ("links", "scheduled_export_rows"))
    config = {**base_config, "max_retries": 1}
    run = airbyte("read", files={"--config": config, "--catalog": chosen}, tmp_path=tmp_path)
    assert run.returncode == 1
    error = run.messages[-1].trace.error
    assert error.stream_descriptor.name == "scheduled_export_rows"
    assert error.failure_type.value == "system_error"
    assert statuses_of(run) == {
        "links": ["STARTED", "RUNNING", "COMPLETE"],
        "scheduled_export_rows": ["STARTED", "INCOMPLETE"],
    }


@pytest.mark.parametrize(
    ("files", "named"),
    [
        ({"--state": [{"type": "GLOBAL", "global": {"stream_states": []}}]}, "a GLOBAL state"),
        ({"--state": {"bookmarks": {}}}, "expected a JSON list"),
        (  # a bookmark the state check refuses: the user's input, not the source's failure
            {
                "--state": [
                    {
                        "type": "STREAM",
                        "stream": {
                            "stream_descriptor": {"name": "links"},
                            "stream_state": {
                                "links": {
                                    "partitions": [
                                        {
                                            "context": {"app_id": "sandbox-app"},
                                            "replication_key": "export_date",
                                            "replication_key_value": "2026-13-40",
                                        }
                                    ]
                                }
                            },
                        },
                    }
                ]
            },
            "'replication_key_value' of stream 'links'",
        ),
        ({"--catalog": {"streams": [{"stream": {"name": "nope"}}]}}, "--catalog"),
        ({"--config": {"batch_config": {"encoding": {"format": "jsonl"}}}}, "'batch_config'"),
        ({"--config": {"start_date": "yesterday"}}, "'start_date'"),
    ],
)
def test_bad_inputs_are_config_errors_naming_them(base_config, catalog, tmp_path, files, named):
    given = {"--config": base_config, "--catalog": configured(catalog, ("links",))}
    if "--config" in files:
        given["--config"] = {**base_config, **files.pop("--config")}
    given.update(files)
    run = airbyte("read", files=given, tmp_path=tmp_path)
    assert run.returncode == 1
    error = run.messages[-1].trace.error
    assert error.failure_type.value == "config_error"
    assert named in error.message


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (("bogus",), "invalid choice: 'bogus'"),
        (("read", "--config", "config.json"), "required: --catalog"),
    ],
)
def test_a_wrong_command_line_is_a_config_error(argv, named, tmp_path):
    run = airbyte(*argv, files={}, tmp_path=tmp_path)
    assert run.returncode == 1
    (message,) = run.messages
    assert message.trace.error.failure_type.value == "config_error"
    assert named in message.trace.error.message


@pytest.mark.parametrize(
    ("stream", "change", "named"),
    [
        ("app_config", {"sync_mode": "incremental"}, "stream app_config for sync mode incremental"),
        ("events", {"cursor_field": ["timestamp"]}, "stream events the cursor field timestamp"),
    ],
)
def test_a_sync_mode_or_cursor_a_stream_lacks_is_a_config_error(
    base_config, catalog, tmp_path, stream, change, named
):
    chosen = configured(catalog, (stream,))
    chosen["streams"][0].update(change)
    run = airbyte("read", files={"--config": base_config, "--catalog": chosen}, tmp_path=tmp_path)
    assert run.returncode == 1 and run.of(Type.RECORD) == []
    error = run.messages[-1].trace.error
    assert error.failure_type.value == "config_error"
    assert named in error.message


def test_check_answers_with_a_connection_status(sandbox, base_config, tmp_path):
    good = airbyte("check", files={"--config": base_config}, tmp_path=tmp_path)
    (status,) = good.of(Type.CONNECTION_STATUS)
    assert good.returncode == 0 and status.connectionStatus.status == Status.SUCCEEDED
    for change, setting in (
        ({"access_token": "api_app_WRONG"}, "'access_token'"),
        ({"start_date": None}, "start_date"),
    ):
        config = {k: v for k, v in {**base_config, **change}.items() if v is not None}
        bad = airbyte("check", files={"--config": config}, tmp_path=tmp_path)
        (status,) = bad.of(Type.CONNECTION_STATUS)
        assert bad.returncode == 0, bad.raw  # a failed check is an answer, not a crash
        assert status.connectionStatus.status == Status.FAILED
        assert setting in status.connectionStatus.message
        assert "api_app_WRONG" not in bad.raw and SANDBOX_TOKEN not in bad.raw
    jobs = [
        r for r in sandbox.requests_log() if r["path"].startswith(("/v2/logs", "/v2/analytics"))
    ]
    assert jobs == []


def test_a_cancelled_read_ends_with_a_trace_error_saying_so(
    sandbox, base_config, catalog, tmp_path
):
    """Airbyte cancels a sync with SIGTERM: the streams not done are INCOMPLETE and the last
    message says the read was stopped (the SDK's own handler exited 0 in silence)."""
    first_day = base_config["start_date"]  # an ISO date
    sandbox.options(daily_rows={"links": 40}, daily_rows_per_file=20)
    sandbox.fault(kind="slow", path=f"/{first_day}/links/1-", delay=20, times=1)
    files = {"--config": base_config, "--catalog": configured(catalog, ("links",))}
    argv = airbyte_argv("read", files=files, tmp_path=tmp_path)
    out = tmp_path / "out.jsonl"
    with out.open("wb") as stdout:
        source = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        # the progress line of the first file (records wait in the output's batch)
        while b"read links file 1 " not in out.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        source.send_signal(signal.SIGTERM)
        _, errors = source.communicate(timeout=15)
    assert errors == b""
    run = Run.of_output(source.returncode, out.read_text())
    assert run.returncode == 1
    # The second file never came. The first file's records are out or not, depending on where
    # the signal lands (they wait in the output's batch); no state covers them either way.
    assert run.record_counts().get("links", 0) <= 20
    assert first_day not in json.dumps(run.states())
    trace = run.messages[-1]
    assert trace.type == Type.TRACE and trace.trace.type == TraceType.ERROR
    assert trace.trace.error.message.startswith("Stopped by SIGTERM before the end of the run")
    assert trace.trace.error.failure_type.value == "system_error"
    assert statuses_of(run) == {"links": ["STARTED", "RUNNING", "INCOMPLETE"]}


def test_a_cancelled_check_ends_with_a_trace_error_not_a_traceback(sandbox, base_config, tmp_path):
    """SIGTERM while `check` waits on Branch: a TRACE error saying so, as for a read (a
    traceback on stderr before), and no connection status."""
    sandbox.fault(kind="slow", path="", delay=20, after=1)  # the second request hangs
    argv = airbyte_argv("check", files={"--config": base_config}, tmp_path=tmp_path)
    source = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 15

    def branch_answered() -> bool:  # the first request to Branch (the tap built), not ours
        return any(not r["path"].startswith("/_sandbox/") for r in sandbox.requests_log())

    while not branch_answered() and time.monotonic() < deadline:
        time.sleep(0.05)
    source.send_signal(signal.SIGTERM)
    out, errors = source.communicate(timeout=15)
    assert errors == b""
    run = Run.of_output(source.returncode, out.decode())
    assert run.returncode == 1
    assert run.of(Type.CONNECTION_STATUS) == []
    trace = run.messages[-1]
    assert trace.type == Type.TRACE and trace.trace.error.failure_type.value == "system_error"
    assert (
        trace.trace.error.message == "Stopped by SIGTERM before it was done; no sync had started."
    )
