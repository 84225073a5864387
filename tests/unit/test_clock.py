"""The tap's one clock (settable in process and by environment) and its one date parser."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys

import pytest

from tap_branch import clock
from tests.support.sandbox import NOW

UTC = dt.timezone.utc


def test_set_clock_stands_still_and_runs_again_when_unset():
    moment = dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)
    clock.set_now(moment)
    assert clock.now() == moment and clock.today() == dt.date(2025, 12, 31)
    clock.set_now(dt.datetime(2025, 1, 1, 12))  # naive: taken as UTC
    assert clock.now() == dt.datetime(2025, 1, 1, 12, tzinfo=UTC)
    clock.set_now(None)
    assert clock.now() == NOW  # the tests' environment variable, as a tap subprocess sees it


def test_a_tap_subprocess_reads_the_clock_from_its_environment():
    code = "from tap_branch import clock; print(clock.now().isoformat(), clock.today())"
    env = {**os.environ, clock.ENV: "2024-02-29T23:30:00-01:00"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["2024-03-01T00:30:00+00:00", "2024-03-01"]


@pytest.mark.parametrize(
    "text",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01T12:00:00.000Z",
        "2024-05-01 12:00:00",
        "2024-05-01T14:00:00+02:00",
        "1714564800",
        "1714564800000",
    ],
)
def test_one_parser_reads_every_form_branch_sends(text):
    assert clock.parse_moment(text) == dt.datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_a_day_is_midnight_utc_and_nonsense_is_refused():
    assert clock.parse_moment("2024-05-01") == dt.datetime(2024, 5, 1, tzinfo=UTC)
    for bad in ("yesterday", "2024-02-30", "31/01/2024", ""):
        with pytest.raises(ValueError):
            clock.parse_moment(bad)
