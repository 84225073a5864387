"""No secret anywhere: every log line (DEBUG too), error, traceback, record and state of good,
faulty and failing runs is searched for the configured secrets and for every signed-URL
signature and credential the sandbox issued. The sandbox's own request log too."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import time
import traceback
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tap_branch.api.stream import BranchStream
from tests.support.sandbox import (
    DAILY_STREAMS,
    SANDBOX_KEY,
    SANDBOX_SECRET,
    SANDBOX_TOKEN,
    days_back,
    utc_today,
)
from tests.support.tap_runner import TapRun, run_tap, select_only


@pytest.fixture(autouse=True)
def _retry_waits_without_random_second(monkeypatch):
    """The SDK adds up to a second of random jitter to every retry wait; not the point here."""
    monkeypatch.setattr(BranchStream, "backoff_jitter", lambda self, value: value)


@pytest.fixture
def issued(sandbox) -> list[str]:
    """Every signed URL the sandbox hands out during the test."""
    urls: list[str] = []
    original = sandbox.sandbox.signed_url

    def recording(request, key, ttl=None):
        url = original(request, key, ttl)
        urls.append(url)
        return url

    sandbox.sandbox.signed_url = recording
    return urls


def signed_secrets(urls: list[str]) -> set[str]:
    """The signature and credential values of signed URLs (what must never leak)."""
    values = set()
    for url in urls:
        query = parse_qs(urlsplit(url).query)
        values.update(query["X-Amz-Signature"])
        values.update(query["X-Amz-Credential"])
    return values


def everything_said(run: TapRun) -> str:
    """Logs, the error with its traceback, and every message written (records, state)."""
    parts = [run.logs, run.raw_output, json.dumps(run.state)]
    if run.error is not None:
        parts.append(str(run.error))
        parts.extend(traceback.format_exception(run.error))
    return "\n".join(parts)


def assert_no_secrets(text: str, secrets: set[str]) -> None:
    assert secrets, "nothing to search for"
    found = sorted(secret for secret in secrets if secret in text)
    assert not found, f"secrets found in the output: {found}"


def test_good_faulty_and_failing_runs_leak_nothing(sandbox, base_config, issued):
    config = {**base_config, "start_date": days_back(2)[0].isoformat()}
    runs = [run_tap(config, select=DAILY_STREAMS, log_level=logging.DEBUG)]

    # Recovered faults: 5xx, resets, truncation, expiry, on the API and on files.
    for rule in (
        {"kind": "status", "status": 503, "path": "/v1/export"},
        {"kind": "status", "status": 500, "path": "/events/0-"},
        {"kind": "reset", "path": "/link_clicks/1-"},
        {"kind": "reset", "path": "/v1/export"},
        {"kind": "truncate", "path": "/links/0-", "fraction": 0.5},
        {"kind": "expire", "path": "/events/1-"},
    ):
        sandbox.fault(**rule)
    runs.append(run_tap(config, select=DAILY_STREAMS, log_level=logging.DEBUG))
    assert runs[-1].error is None

    # Failing runs: a URL that stays expired, a file host that stays down, the API refusing.
    config = {**config, "max_retries": 2}
    sandbox.fault(kind="expire", path="/links/", times=-1)
    runs.append(run_tap(config, select=["links"], expect_error=True, log_level=logging.DEBUG))
    sandbox.clear_faults()
    sandbox.fault(kind="status", status=503, path="/files/", times=-1)
    runs.append(run_tap(config, select=["events"], expect_error=True, log_level=logging.DEBUG))
    sandbox.clear_faults()
    sandbox.fault(
        kind="status", status=500, path="/v1/export", times=-1, body={"echo": SANDBOX_SECRET}
    )
    runs.append(run_tap(config, select=["events"], expect_error=True, log_level=logging.DEBUG))
    sandbox.clear_faults()
    wrong = "secret_live_wrong_value_1"
    runs.append(
        run_tap(
            {**config, "branch_secret": wrong},
            select=["links"],
            expect_error=True,
            log_level=logging.DEBUG,
        )
    )
    assert all(run.error is not None for run in runs[2:])

    said = "\n".join(everything_said(run) for run in runs)
    assert "GET /v1/export" in said  # DEBUG request lines were captured, and searched
    assert_no_secrets(said, {SANDBOX_SECRET, SANDBOX_TOKEN, wrong} | signed_secrets(issued))
    assert len(issued) > 20


def test_records_and_state_carry_no_signed_url(sandbox, base_config, issued):
    run = run_tap(base_config, select=DAILY_STREAMS)
    output = run.raw_output
    assert "X-Amz-" not in output and "/files/" not in output
    assert_no_secrets(output, {SANDBOX_SECRET, SANDBOX_TOKEN} | signed_secrets(issued))


def _wait_for_port(process: subprocess.Popen, timeout: float = 20.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError("the sandbox did not start")


def test_cli_tap_and_cli_sandbox_print_no_secret(tmp_path):
    """Both programs as users run them: the tap's stderr (with a failing sync and its
    traceback, at DEBUG) and the sandbox's request log."""
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "tap_branch_sandbox.cli", "--port", "0", "--url-ttl", "3600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        port = _wait_for_port(sandbox)
        url = f"http://127.0.0.1:{port}"
        # The CLI sandbox's day is the tests' (the tap subprocess's clock is set by conftest).
        requests.post(
            f"{url}/_sandbox/clock", json={"today": utc_today().isoformat()}, timeout=10
        ).raise_for_status()
        # Files of the day before yesterday are fine; yesterday's stay expired: the sync fails.
        answer = requests.get(
            f"{url}/v1/export/{SANDBOX_KEY}",
            params={"branch_secret": SANDBOX_SECRET, "export_date": days_back(2)[0].isoformat()},
            timeout=10,
        ).json()
        file_url = answer["events_export_url"][0]
        assert requests.get(file_url, timeout=10).status_code == 200
        requests.post(
            f"{url}/_sandbox/faults",
            json={"kind": "expire", "path": f"/{days_back(1)[0].isoformat()}/", "times": -1},
            timeout=10,
        ).raise_for_status()
        config = tmp_path / "config.json"
        config.write_text(
            json.dumps(
                {
                    "start_date": days_back(2)[0].isoformat(),
                    "branch_key": SANDBOX_KEY,
                    "branch_secret": SANDBOX_SECRET,
                    "access_token": SANDBOX_TOKEN,
                    "api_url": url,
                    "api2_url": url,
                    "backoff_factor": 0.01,
                }
            )
        )
        catalog = tmp_path / "catalog.json"
        discovered = subprocess.run(
            [sys.executable, "-m", "tap_branch.tap", "--config", str(config), "--discover"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        catalog.write_text(json.dumps(select_only(json.loads(discovered.stdout), DAILY_STREAMS)))
        tap = subprocess.run(
            [
                sys.executable,
                "-m",
                "tap_branch.tap",
                "--config",
                str(config),
                "--catalog",
                str(catalog),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "TAP_BRANCH_LOGLEVEL": "DEBUG"},
        )
    finally:
        sandbox.terminate()
        _, sandbox_log = sandbox.communicate(timeout=20)

    assert tap.returncode != 0
    assert "Traceback" in tap.stderr and "SignedUrlExpiredError" in tap.stderr
    assert '"type":"RECORD"' in tap.stdout.replace(" ", "")  # the first day did sync
    assert "X-Amz-Signature=REDACTED" in sandbox_log and "branch_secret=REDACTED" in sandbox_log
    signature = parse_qs(urlsplit(file_url).query)["X-Amz-Signature"][0]
    assert_no_secrets(tap.stdout + tap.stderr, {SANDBOX_SECRET, SANDBOX_TOKEN, signature})
    assert_no_secrets(sandbox_log, {SANDBOX_SECRET, SANDBOX_TOKEN, signature})
    assert re.findall(r"X-Amz-Signature=(?!REDACTED)", tap.stderr + sandbox_log) == []


# --- mistyped secrets in config validation errors --------------------------------------

_MISTYPED_SECRETS = {
    "apps given as an object": (
        {
            "apps": {
                "app_id": "a1",
                "branch_key": "key_live_a",
                "branch_secret": "secret_live_LEAK1",
            }
        },
        "secret_live_LEAK1",
    ),
    "a numeric user_id": ({"user_id": 918273645546372}, "918273645546372"),
    "a numeric branch_secret": ({"branch_secret": 98765432109876}, "98765432109876"),
    "access_token as a list": ({"access_token": ["api_app_LEAK_LIST"]}, "api_app_LEAK_LIST"),
}


def _cli(
    tmp_path, *args: str, config: dict, env: dict | None = None
) -> subprocess.CompletedProcess:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    argv = [sys.executable, *args]
    argv = [a.replace("CONFIG", str(path)) for a in argv]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )


@pytest.mark.parametrize("case", sorted(_MISTYPED_SECRETS))
def test_a_mistyped_secret_is_redacted_from_validation_errors(tmp_path, case):
    """The validator quotes a value of the wrong type; the secrets are registered before it
    runs, whatever their JSON kind: the sync, --test, --discover and the Airbyte check and
    discover all refuse the setting without showing the secret."""
    change, secret = _MISTYPED_SECRETS[case]
    config = {"start_date": "2024-01-01", "branch_key": "key_live_x", **change}
    setting = f"config['{next(iter(change))}']"
    for args in (
        ("-m", "tap_branch.tap", "--config", "CONFIG"),
        ("-m", "tap_branch.tap", "--config", "CONFIG", "--test"),
        ("-m", "tap_branch.tap", "--config", "CONFIG", "--discover"),
        ("-m", "tap_branch.airbyte.cli", "check", "--config", "CONFIG"),
        ("-m", "tap_branch.airbyte.cli", "discover", "--config", "CONFIG"),
    ):
        done = _cli(tmp_path, *args, config=config)
        said = done.stdout + done.stderr
        assert setting in said, (args, said[-2000:])
        assert "REDACTED" in said
        assert_no_secrets(said, {secret})
        assert "Traceback" not in done.stderr


def test_apps_as_an_object_in_its_environment_variable_is_redacted(tmp_path):
    done = _cli(
        tmp_path,
        "-m",
        "tap_branch.tap",
        "--config",
        "ENV",
        config={},
        env={
            "TAP_BRANCH_START_DATE": "2024-01-01",
            "TAP_BRANCH_APPS": '{"branch_key": "key_live_a", "branch_secret": "secret_live_LEAK_ENV"}',
        },
    )
    assert done.returncode == 1
    assert "config['apps']" in done.stderr
    assert_no_secrets(done.stdout + done.stderr, {"secret_live_LEAK_ENV"})
