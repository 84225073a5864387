"""Progress a person can follow (`tap_branch.output.progress`): a line per file read, per day complete
and per job state change, with the run's totals; the SDK's METRIC lines off the console unless
the SDK's logging config routes them."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import pathlib
import re
import subprocess

from tests.e2e.cohort.test_cohort import STREAM as COHORT_STREAM
from tests.e2e.cohort.test_cohort import TIME_SCALE, scaled_config
from tests.e2e.custom_exports.test_custom_exports import config, fast_sandbox  # noqa: F401 - fixtures
from tests.support import TAP
from tests.support.sandbox import (
    DAILY_STREAMS,
    SANDBOX_APP,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    start_sandbox,
    utc_today,
)
from tests.support.tap_runner import run_tap, select_only

FILE_LINE = re.compile(
    r"INFO tap-branch\.progress (?P<stream>\w+): read (?P<url>.+?): (?P<rows>[\d,]+) rows, "
    r"(?P<size>[\d.,]+ k?B) in [\d.]+ s \([\d,-]+ rows/s\)\. "
    r"Run so far: (?P<total>[\d,]+) rows, [\d.,]+ k?B in (?P<files>[\d,]+) files?, "
)
DAY_LINE = re.compile(
    r"INFO tap-branch\.progress (?P<stream>\w+): (?P<day>\d{4}-\d\d-\d\d) \(app [\w-]+\) "
    r"complete: (?P<rows>[\d,]+) rows, [\d.,]+ k?B in (?P<files>\d+) files?, "
    r".*Run so far: (?P<total>[\d,]+) rows"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def test_a_line_per_file_and_per_day_with_the_runs_totals(sandbox, base_config):
    sandbox.options(
        daily_rows={"links": 40, "link_clicks": 70, "events": 90}, daily_rows_per_file=30
    )
    run = run_tap(base_config, select=DAILY_STREAMS)
    lines = [line for line in run.logs.splitlines() if "tap-branch.progress" in line]
    files = [m for m in map(FILE_LINE.match, lines) if m]
    days = [m for m in map(DAY_LINE.match, lines) if m]
    assert len(files) + len(days) == len(lines), lines  # every line is one of the two
    for stream in DAILY_STREAMS:
        records = run.records(stream)
        by_day = collections.Counter(r["export_date"][:10] for r in records)
        # Each day's line counts its own rows, after its files' lines, once per day.
        stream_days = [m for m in days if m["stream"] == stream]
        assert {m["day"]: _number(m["rows"]) for m in stream_days} == dict(by_day)
        assert sum(_number(m["rows"]) for m in files if m["stream"] == stream) == len(records)
        for day in stream_days:
            day_files = [
                m for m in files if m["stream"] == stream and f"/{day['day']}/" in m["url"]
            ]
            assert len(day_files) == _number(day["files"]) > 0
            assert all(lines.index(f.string) < lines.index(day.string) for f in day_files)
    # Running totals: the rows of every file so far, across streams; no signed query shown.
    totals = [_number(m["total"]) for m in files]
    assert totals == _cumulative(files)
    assert totals[-1] == sum(len(run.records(s)) for s in DAILY_STREAMS)
    assert [_number(m["files"]) for m in files] == list(range(1, len(files) + 1))
    assert not [line for line in lines if "X-Amz" in line or "Signature" in line]


def _cumulative(files: list[re.Match]) -> list[int]:
    total, out = 0, []
    for m in files:
        total += _number(m["rows"])
        out.append(total)
    return out


def test_a_line_per_job_state_change():
    # Jobs take 300 sandbox seconds (3 s): QUEUED for the first 90, then RUNNING; the tap
    # polls 2, 3, 4.5, ... (at most 20) sandbox seconds apart, within the rate limits (5 a
    # minute): every job is seen in both states.
    running = start_sandbox(time_scale=TIME_SCALE, options={"cohort_job_latency": 300})
    try:
        run = run_tap(scaled_config(running.url), select=[COHORT_STREAM])
    finally:
        running.stop()
    assert run.records(COHORT_STREAM)
    states: dict[str, list[str]] = collections.defaultdict(list)
    for line in run.logs.splitlines():
        found = re.match(
            rf"INFO tap-branch\.progress {COHORT_STREAM}: job (\S+) for \S+: (.+) after [\d.]+ s\.$",
            line,
        )
        if found:
            states[found[1]].append(found[2])
    assert states
    for job, changes in states.items():
        # The sandbox's jobs go QUEUED, RUNNING, FINISHED: each change once, in order.
        assert changes == ["Branch says 'QUEUED'", "Branch says 'RUNNING'", "done"], (job, changes)


def test_metric_lines_stay_off_the_console_unless_the_logging_config_routes_them(tmp_path):
    running = start_sandbox()
    try:
        config = {
            "start_date": (utc_today() - dt.timedelta(days=2)).isoformat(),
            "branch_key": SANDBOX_KEY,
            "branch_secret": SANDBOX_SECRET,
            "access_token": SANDBOX_TOKEN,
            "app_id": SANDBOX_APP,
            "api_url": running.url,
            "api2_url": running.url,
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        catalog = select_only(json.loads(_run(tmp_path, "--discover").stdout), ("links",))
        (tmp_path / "catalog.json").write_text(json.dumps(catalog))
        plain = _run(tmp_path, "--catalog", str(tmp_path / "catalog.json"))
        assert plain.returncode == 0, plain.stderr[-3000:]
        assert "METRIC" not in plain.stderr
        assert "Beginning sync of 'links'" in plain.stderr  # the INFO lines are there
        assert re.search(
            r"tap-branch\.progress +\| links: \S+ \(app [\w-]+\) complete", plain.stderr
        )
        # The SDK's logging config (SINGER_SDK_LOG_CONFIG) sends them where it says: a file.
        metrics_file = tmp_path / "metrics.log"
        log_config = tmp_path / "logging.yml"
        log_config.write_text(
            "version: 1\ndisable_existing_loggers: false\n"
            "handlers:\n  metrics:\n    class: logging.FileHandler\n"
            f"    filename: {metrics_file}\n"
            "loggers:\n  singer_sdk.metrics:\n    handlers: [metrics]\n    propagate: false\n"
        )
        routed = _run(
            tmp_path,
            "--catalog",
            str(tmp_path / "catalog.json"),
            env={"SINGER_SDK_LOG_CONFIG": str(log_config)},
        )
        assert routed.returncode == 0, routed.stderr[-3000:]
        assert "METRIC" not in routed.stderr
        assert '"metric":"record_count"' in metrics_file.read_text()
    finally:
        running.stop()


def _run(home: pathlib.Path, *args: str, env: dict | None = None):
    return subprocess.run(
        [str(TAP), "--config", str(home / "config.json"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=home,
        env={**os.environ, **(env or {})},
    )


UNIT_LINE = re.compile(
    r"INFO tap-branch\.progress (?P<stream>\w+): (?P<unit>.+?) complete: (?P<rows>[\d,]+) rows, "
    r"[\d.,]+ k?B in (?P<files>\d+) files?, .*Run so far: (?P<total>[\d,]+) rows"
)


def _units(run, stream: str) -> list[re.Match]:
    return [m for m in map(UNIT_LINE.match, run.logs.splitlines()) if m and m["stream"] == stream]


def test_a_line_per_scheduled_export_job_read(sandbox, base_config):
    rows = "scheduled_export_rows"
    settings = {**base_config, "scheduled_exports": [{"subscription_id": "sandbox-sub-1"}]}
    run = run_tap(settings, select=["scheduled_export_jobs", rows])
    by_job = collections.Counter(r["job_id"] for r in run.records(rows))
    units = _units(run, rows)
    assert len(by_job) >= 2
    assert {re.match(r"job (\S+) of ", m["unit"])[1]: _number(m["rows"]) for m in units} == by_job
    assert all("sandbox-sub-1" in m["unit"] for m in units)


def test_a_line_per_custom_export_window(fast_sandbox, config):  # noqa: F811 - the fixtures
    stream = "custom_eo_click"
    run = run_tap({**config, "custom_exports_window_days": 1}, select=[stream])
    units = _units(run, stream)
    assert len(units) >= 2 and all("(app sandbox-app)" in m["unit"] for m in units)
    assert sum(_number(m["rows"]) for m in units) == len(run.records(stream)) > 0
    assert _number(units[-1]["total"]) == len(run.records(stream))
