"""The client-side limiter: several windows at once, shared by name, every wait explained."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from tap_branch.api.ratelimit import Limiter, padded
from tap_branch.api.run_caches import RunCaches
from tap_branch.streams.cohort.cache import CohortCache
from tap_branch.streams.daily.cache import DailyCache
from tap_branch.tap import TapBranch

LOGGER = logging.getLogger("test.ratelimit")


def _starts(limiter: Limiter, count: int) -> list[float]:
    starts = []
    for number in range(count):
        limiter.acquire(f"request {number}")
        starts.append(time.monotonic())
    return starts


def test_every_window_is_enforced_at_once(caplog):  # needs the logging plugin (default on)
    # 2 per 0.1 s and 4 per 0.6 s: the fifth request must wait for the longer window.
    limiter = Limiter("test-both", [(2, 0.1), (4, 0.6)], LOGGER)
    caplog.set_level(logging.INFO, logger="test.ratelimit")
    starts = _starts(limiter, 5)
    for first, second in zip(starts, starts[2:], strict=False):
        assert second - first >= 0.1, "more than 2 requests in the 0.1 s window"
    assert starts[4] - starts[0] >= 0.6, "more than 4 requests in the 0.6 s window"
    reasons = [r.getMessage() for r in caplog.records]
    assert any("2 requests / 0.1 s window is full" in m and "request 2" in m for m in reasons)
    assert any("4 requests / 0.6 s window is full" in m and "request 4" in m for m in reasons)
    assert limiter.admitted == 5
    assert limiter.waited_seconds >= 0.6


def test_no_window_is_exceeded_under_threads():
    limiter = Limiter("test-threads", [(3, 0.05), (6, 0.3)], LOGGER)
    stamps: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(3):
            limiter.acquire()
            with lock:
                stamps.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stamps.sort()
    assert len(stamps) == 12
    for limit, seconds in [(3, 0.05), (6, 0.3)]:
        for index in range(limit, len(stamps)):
            assert stamps[index] - stamps[index - limit] >= seconds * 0.98


def test_shared_by_name_and_windows_within_a_run_only():
    run = RunCaches()
    first = run.limiter("cohort-test", [(5, 60.0), (2, 1.0)], LOGGER)
    assert run.limiter("cohort-test", [(5, 60), (2, 1)], LOGGER) is first
    assert run.limiter("other", [(5, 60.0), (2, 1.0)], LOGGER) is not first
    assert run.limiter("cohort-test", [(9, 60.0)], LOGGER) is not first
    assert run.limiter("cohort-test", [(5, 60.0), (2, 1.0)], LOGGER, margin=0) is not first
    assert RunCaches().limiter("cohort-test", [(5, 60.0), (2, 1.0)], LOGGER) is not first


def test_a_family_cache_is_made_on_the_first_ask_and_kept_by_type():
    run = RunCaches()
    daily = run.of(DailyCache)
    assert daily == DailyCache() and run.of(DailyCache) is daily
    assert run.of(CohortCache) is not daily
    daily.use_post = True
    assert run.of(DailyCache).use_post and not RunCaches().of(DailyCache).use_post
    assert run.renew(DailyCache) is run.of(DailyCache) is not daily


def _cohort_tap() -> TapBranch:
    reports = [{"name": "a", "measures": ["OPEN"]}, {"name": "b", "measures": ["revenue"]}]
    config = {
        "start_date": "2024-01-01",
        "access_token": "token",
        "app_id": "1",
        "cohort_reports": reports,
        "cohort_rate_limits": [{"requests": 2, "seconds": 1}, {"requests": 5, "seconds": 60}],
    }
    return TapBranch(config=config, parse_env_config=False)


def test_a_runs_cohort_streams_share_one_limiter_and_two_runs_share_none():
    """Branch counts every cohort call of an account together: the streams of one run pace
    themselves on one limiter. A second run in the same process (tests, the Airbyte source)
    starts from an idle account, not from the first run's counts."""
    one, two = _cohort_tap(), _cohort_tap()
    limiter = one.streams["cohort_a"].limiter
    assert one.streams["cohort_b"].limiter is limiter
    assert limiter.windows == [(2, 1.0), (5, 60.0)]
    assert two.streams["cohort_a"].limiter is not limiter


def test_budget_counts_what_is_left_in_every_window():
    limiter = Limiter("test-budget", [(2, 1.0), (5, 60.0), (150, 3600.0)], LOGGER)
    assert limiter.budget(0) == 2  # a burst of two right now
    assert limiter.budget(30) == 5  # the minute window caps it
    assert limiter.budget(3600) == 150  # 5 a minute would allow 300; the hour allows 150
    assert limiter.budget(7200) == 300
    limiter.acquire()
    limiter.acquire()
    assert limiter.budget(30) == 3
    # Far beyond the simulated horizon it extrapolates at the tightest steady rate.
    assert 150 * 23 <= limiter.budget(24 * 3600) <= 150 * 25


def test_seconds_for_is_the_bound_the_windows_impose():
    limiter = Limiter("test-bound", [(2, 1.0), (5, 60.0), (150, 3600.0)], LOGGER)
    assert limiter.seconds_for(1) == 0
    assert limiter.seconds_for(5) == 2  # 2 a second
    assert limiter.seconds_for(6) == 60
    assert limiter.seconds_for(151) == 3600


def test_redundant_windows_are_accepted_and_bad_ones_named():
    # 2/s already caps a minute at 120, so "150 a minute" adds nothing: accepted.
    Limiter("test-redundant", [(2, 1.0), (150, 60.0)], LOGGER)
    with pytest.raises(ValueError, match="test-bad"):
        Limiter("test-bad", [(0, 1.0)], LOGGER)
    with pytest.raises(ValueError, match="test-mixed"):
        Limiter("test-mixed", [(10, 1.0), (15, 1.2)], LOGGER)


def test_a_request_counts_from_its_answer_when_the_caller_says_so():
    """A slow answer (a busy server counts the request late) moves the request's slot: the
    next one waits a full window from the answer, not from the sending."""

    class Clock:
        ms = 0

        def now(self) -> int:
            return self.ms

    clock = Clock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.ms += round(seconds * 1000)

    limiter = Limiter("test-answered", [(1, 1.0)], LOGGER, sleep=sleep, clock=clock)
    limiter.acquire("the first request")
    clock.ms += 300  # its answer comes 0.3 s later
    limiter.answered()
    limiter.acquire("the second request")
    # The window (1 s and its margins: 1.051 s) counted from the answer at 0.3 s, not the sending.
    assert sum(sleeps) == pytest.approx(padded(1.0), abs=0.002)
    assert clock.ms == pytest.approx(300 + 1051, abs=2)
    limiter.answered()
    limiter.answered()  # nothing left to move: a no-op
    assert limiter.admitted == 2


def test_the_margin_is_a_setting_and_a_fraction_of_every_window():
    """Each window waits its length, 0.1% of it (clock rates) and the margin (Branch's clocks);
    a time-scaled run scales the margin like the windows."""

    class Clock:
        ms = 0

        def now(self) -> int:
            return self.ms

    clock = Clock()

    def sleep(seconds: float) -> None:
        clock.ms += round(seconds * 1000)

    limiter = Limiter("test-margin", [(1, 60.0)], LOGGER, margin=0.5, sleep=sleep, clock=clock)
    limiter.acquire()
    limiter.answered()
    limiter.acquire()
    assert clock.ms == pytest.approx(60_000 + 60 + 500, abs=2)
    assert padded(60.0) == pytest.approx(60.11)  # the default margin, 50 ms
    assert padded(0.01) == pytest.approx(0.02001)  # shorter than the margin: its own length
    with pytest.raises(ValueError, match="margin"):
        Limiter("test-margin", [(1, 1.0)], LOGGER, margin=-1)
