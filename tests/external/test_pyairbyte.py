"""PyAirbyte, as a user runs it, drives tap-branch-airbyte against the sandbox: the docs'
snippet (the `<!-- run: python -->` block of docs/getting-started/airbyte.md) checks, discovers and reads the daily streams and the scheduled exports into PyAirbyte's
default DuckDB cache; the row counts are the Singer tap's; a second read with the state PyAirbyte
kept brings nothing new; wrong credentials fail `check` naming the setting.

PyAirbyte lives in its own virtualenv (tests/support/pyairbyte_env.py); tests/support/pyairbyte_driver.py runs
there and reports back in JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import pathlib
import subprocess
import sys

import pytest

from tests.docs.blocks import one
from tests.support import ROOT
from tests.support.pyairbyte_env import pyairbyte_python
from tests.support.sandbox import DAILY_STREAMS, utc_today
from tests.support.tap_runner import run_tap

STREAMS = (*DAILY_STREAMS, "scheduled_export_jobs", "scheduled_export_rows")
WRONG = {"branch_secret": "secret_live_WRONG", "access_token": "api_app_WRONG"}


#: The page whose `<!-- run: python -->` block is the PyAirbyte snippet.
SNIPPET_DOC = "docs/getting-started/airbyte.md"


def readme_snippet() -> str:
    return one("run: python", SNIPPET_DOC, "import airbyte as ab").text


@pytest.fixture(scope="module")
def pyairbyte() -> pathlib.Path:
    python = pyairbyte_python()
    if python is None:
        pytest.skip(f"PyAirbyte supports Python 3.10-3.12 and uv found none besides {sys.version}")
    return python


def test_pyairbyte_loads_what_the_singer_tap_reads(sandbox, pyairbyte, tmp_path):
    snippet = readme_snippet()
    # The snippet as a user runs it, pointed at this test's sandbox, this virtualenv's executable
    # and the tests' today (not the wall clock's).
    executable = pathlib.Path(sys.executable).parent / "tap-branch-airbyte"
    start = (utc_today() - dt.timedelta(days=3)).isoformat()
    for literal, value in (
        ('"http://127.0.0.1:8787"', sandbox.url),
        ('".venv/bin/tap-branch-airbyte"', str(executable)),
        ("(dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=3)).isoformat()", start),
    ):
        assert literal in snippet, literal
        snippet = snippet.replace(literal, json.dumps(value))
    (tmp_path / "snippet.py").write_text(snippet)
    (tmp_path / "wrong.json").write_text(json.dumps(WRONG))
    done = subprocess.run(
        [
            str(pyairbyte),
            str(ROOT / "tests" / "support" / "pyairbyte_driver.py"),
            "snippet.py",
            "result.json",
            "wrong.json",
        ],
        cwd=tmp_path,  # PyAirbyte's default cache is ./.cache
        env={**os.environ, "AIRBYTE_OFFLINE_MODE": "1", "DO_NOT_TRACK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    seen = json.loads((tmp_path / "result.json").read_text())
    assert (tmp_path / ".cache" / "default_cache" / "default_cache.duckdb").exists()

    # The snippet printed what it loaded; the Singer tap, same config and streams, reads as much.
    singer = run_tap(seen["config"], select=STREAMS)
    expected = {name: len(singer.records(name)) for name in STREAMS}
    assert all(expected.values()), expected
    assert seen["first_records"] == expected
    assert seen["first_rows"] == expected
    for name, count in expected.items():
        assert f"{name}: {count} rows" in done.stdout

    # Again, with the state PyAirbyte kept: what the Singer tap reads again from its own state
    # (the jobs Branch has not finished yet, whose status is re-read), and no new row.
    again = run_tap(seen["config"], state=singer.state, select=STREAMS)
    expected_again = {name: len(again.records(name)) for name in STREAMS if again.records(name)}
    assert set(expected_again) <= {"scheduled_export_jobs"}
    assert seen["second_records"] == expected_again
    assert seen["second_rows"] == expected

    for setting, value in WRONG.items():
        refused = seen["refused"][setting]
        assert refused is not None, f"check passed with a wrong {setting}"
        assert refused["error"] == "AirbyteConnectorCheckFailedError"
        assert f"'{setting}'" in refused["reason"]
        assert "Traceback" not in refused["text"]
        assert value not in refused["text"]
