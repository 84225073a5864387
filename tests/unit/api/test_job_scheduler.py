"""The job scheduler with real cohort jobs against a time-scaled sandbox: at most N jobs in
flight, results at the row cap asked again in halves, a failed job named and its owner's
other jobs dropped, jobs of keys no longer planned dropped, nothing sent after `stop`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading

import pytest
from singer_sdk.exceptions import FatalAPIError

from tap_branch.api import jobs
from tap_branch.api.job_scheduler import JobScheduler
from tap_branch.streams.cohort.job import CohortJob
from tap_branch.tap import TapBranch
from tests.e2e.cohort.test_cohort import TIME_SCALE, scaled_config
from tests.support.sandbox import SandboxControl, start_sandbox, utc_today

STREAM = "cohort_installs_by_campaign"


@pytest.fixture
def fast():
    running = start_sandbox(time_scale=TIME_SCALE)
    try:
        yield running
    finally:
        running.stop()


@dataclasses.dataclass(eq=False)
class Recorded(CohortJob):
    """A cohort job that notes when it is submitted and when Branch says it is finished."""

    events: list = dataclasses.field(default_factory=list)
    was_submitted: threading.Event = dataclasses.field(default_factory=threading.Event)

    def submit(self, *, ahead_of: str | None = None) -> None:
        super().submit(ahead_of=ahead_of)
        self.events.append(("submitted", self.key))
        self.was_submitted.set()

    def poll(self) -> jobs.Finished | jobs.Pending:
        answer = super().poll()
        if isinstance(answer, jobs.Finished):
            self.events.append(("finished", self.key))
        return answer


def streams_of(config: dict):
    tap = TapBranch(config=config, parse_env_config=False)
    return tap.streams


def planned(stream, events: list | None = None) -> list[CohortJob]:
    """The stream's jobs as its run plans them (recording `events` when given)."""
    _, _, cohort_jobs = stream.plan(None, warn=False)
    if events is None:
        return cohort_jobs
    fields = [f.name for f in dataclasses.fields(CohortJob)]
    return [Recorded(**{f: getattr(j, f) for f in fields}, events=events) for j in cohort_jobs]


def scheduler_of(stream, most: int) -> JobScheduler:
    return JobScheduler(stream.settings.polling, most, name="cohort jobs")


def records_by_window(scheduler, owner, cohort_jobs) -> dict:
    return {
        job.key: list(fetched.records) for job, fetched in scheduler.fetched(owner, cohort_jobs)
    }


def days(start: dt.date, count: int) -> list[dt.date]:
    return [start + dt.timedelta(days=n) for n in range(count)]


def covered(windows) -> list[dt.date]:
    return sorted(d for a, b in windows for d in days(a, (b - a).days + 1))


def test_at_most_n_jobs_are_in_flight_and_every_window_is_fetched(fast):
    fast.sandbox.config.options.update(cohort_job_latency=60, cohort_rows_per_day=1)
    start = utc_today() - dt.timedelta(days=400)
    report = {"name": "a", "measures": ["OPEN"], "granularity_band_count": 1}
    config = scaled_config(fast.url, cohort_reports=[report], start_date=start.isoformat())
    stream = streams_of(config)["cohort_a"]
    events: list = []
    cohort_jobs = planned(stream, events)
    assert len(cohort_jobs) == 5  # 400 days in windows of at most 90
    scheduler = scheduler_of(stream, most=2)
    scheduler.plan([(stream.name, lambda: cohort_jobs)])
    try:
        results = records_by_window(scheduler, stream.name, cohort_jobs)
    finally:
        scheduler.stop()
    assert covered(results) == days(start, 400)
    assert sum(len(r) for r in results.values()) == 400  # 1 row, 1 measure, 1 band a day
    flying, most = 0, 0
    for what, _ in events:
        flying += 1 if what == "submitted" else -1
        most = max(most, flying)
    assert most == 2, events  # the bound is used, never passed
    assert len(fast.sandbox.state["cohort_jobs"]) == 5


def test_a_result_at_the_row_cap_is_asked_again_in_halves(fast):
    # 9 rows a cohort day (3 combos x 3 measures); the account's cap is 45 rows (5 days).
    fast.sandbox.config.options["cohort_record_cap"] = 45
    start = utc_today() - dt.timedelta(days=10)
    config = scaled_config(fast.url, cohort_record_limit=45, start_date=start.isoformat())
    stream = streams_of(config)[STREAM]
    cohort_jobs = planned(stream)
    assert [job.key for job in cohort_jobs] == [(start, start + dt.timedelta(days=9))]
    scheduler = scheduler_of(stream, most=5)
    scheduler.plan([(stream.name, lambda: cohort_jobs)])
    try:
        results = records_by_window(scheduler, stream.name, cohort_jobs)
    finally:
        scheduler.stop()
    # 10 days -> 5 + 5 (each at the cap) -> 3 + 2 twice: every day once, nothing cut.
    assert covered(results) == days(start, 10)
    assert all(b - a < dt.timedelta(days=5) for a, b in results)
    assert sum(len(r) for r in results.values()) == 10 * 9 * 30
    assert len(fast.sandbox.state["cohort_jobs"]) == 1 + 2 + 4


def test_a_single_day_at_the_cap_fails_naming_the_day(fast):
    fast.sandbox.config.options["cohort_record_cap"] = 9
    start = utc_today() - dt.timedelta(days=1)
    config = scaled_config(fast.url, cohort_record_limit=9, start_date=start.isoformat())
    stream = streams_of(config)[STREAM]
    cohort_jobs = planned(stream)
    scheduler = scheduler_of(stream, most=5)
    scheduler.plan([(stream.name, lambda: cohort_jobs)])
    try:
        with pytest.raises(Exception, match=f"cohort day {start} alone returned 9 rows"):
            records_by_window(scheduler, stream.name, cohort_jobs)
    finally:
        scheduler.stop()


def _two_reports(fast) -> dict:
    two = [
        {"name": "a", "measures": ["OPEN"], "granularity_band_count": 2},
        {"name": "b", "measures": ["revenue"], "granularity_band_count": 2},
    ]
    start = utc_today() - dt.timedelta(days=200)
    return streams_of(scaled_config(fast.url, cohort_reports=two, start_date=start.isoformat()))


def test_a_failed_job_fails_its_owner_naming_it_and_the_others_go_on(fast):
    fast.sandbox.config.options["cohort_rows_per_day"] = 1
    streams = _two_reports(fast)
    a, b = streams["cohort_a"], streams["cohort_b"]
    a_jobs, b_jobs = planned(a), planned(b)
    # a's 3 windows are submitted first; every later submission is refused.
    SandboxControl(fast).fault(
        kind="status", status=400, method="POST", path="/v2/analytics", after=3, times=-1
    )
    scheduler = scheduler_of(a, most=5)
    scheduler.plan([(a.name, lambda: a_jobs), (b.name, lambda: b_jobs)])
    try:
        assert covered(records_by_window(scheduler, a.name, a_jobs)) == days(
            utc_today() - dt.timedelta(days=200), 200
        )
        # Its error names its stream and window already: raised as it is.
        with pytest.raises(FatalAPIError) as failed:
            records_by_window(scheduler, b.name, b_jobs)
    finally:
        scheduler.stop()
    message = str(failed.value)
    assert f"cohort_b: submitting {b_jobs[0].window_text} failed: HTTP 400" in message, message
    refused = [r for r in fast.sandbox.request_log if r["status"] == 400]
    assert len(refused) == 1  # b's other windows are dropped, not sent again and again


def test_a_failed_poll_names_the_owner_the_window_and_the_job(fast):
    SandboxControl(fast).fault(
        kind="status", status=404, method="GET", path="/v2/analytics/", times=-1
    )
    stream = streams_of(scaled_config(fast.url))[STREAM]
    cohort_jobs = planned(stream)
    scheduler = scheduler_of(stream, most=5)
    scheduler.plan([(stream.name, lambda: cohort_jobs)])
    try:
        # Branch's 404 names the job, not the window: the scheduler names the rest.
        with pytest.raises(jobs.JobFailed) as failed:
            records_by_window(scheduler, stream.name, cohort_jobs)
    finally:
        scheduler.stop()
    job_id = next(iter(fast.sandbox.state["cohort_jobs"]))
    assert job_id in str(failed.value)
    assert f"{STREAM}: the cohort job for {cohort_jobs[0].window_text} failed" in str(failed.value)


def test_jobs_of_windows_no_longer_planned_are_dropped_and_missing_ones_queued(fast, caplog):
    fast.sandbox.config.options.update(cohort_job_latency=60, cohort_rows_per_day=1)
    streams = _two_reports(fast)
    a = streams["cohort_a"]
    queued = planned(a)
    assert len(queued) == 3
    scheduler = scheduler_of(a, most=1)  # one at a time: the later windows are still queued
    scheduler.plan([(a.name, lambda: queued)])
    # The owner's turn comes with another plan: its first window only, and a new one.
    first = queued[0]
    new = dataclasses.replace(first, window=(first.window[0], first.window[0]))
    caplog.set_level(logging.INFO)
    try:
        results = records_by_window(scheduler, a.name, [first, new])
    finally:
        scheduler.stop()
    assert sorted(results) == sorted([first.key, new.key])
    for stale in queued[1:]:
        assert f"the job for {stale.window_text}, queued ahead, is not used" in caplog.text
    # 1 job for the first window, 1 for the new one, at most 1 other already in flight.
    assert len(fast.sandbox.state["cohort_jobs"]) <= 3


def test_a_plan_that_raises_is_its_owners_error_in_its_turn(fast):
    streams = _two_reports(fast)
    a, b = streams["cohort_a"], streams["cohort_b"]
    a_jobs = planned(a)

    def broken():
        raise ValueError("b's bookmark is not a date")

    scheduler = scheduler_of(a, most=5)
    scheduler.plan([(a.name, lambda: a_jobs), (b.name, broken)])
    try:
        assert len(records_by_window(scheduler, a.name, a_jobs)) == 3
        with pytest.raises(ValueError, match="bookmark is not a date"):
            records_by_window(scheduler, b.name, [])
    finally:
        scheduler.stop()


def test_nothing_is_sent_after_stop(fast):
    fast.sandbox.config.options["cohort_job_latency"] = 10**6  # never finished
    streams = _two_reports(fast)
    a = streams["cohort_a"]
    events: list = []
    cohort_jobs = planned(a, events)
    scheduler = scheduler_of(a, most=5)
    scheduler.plan([(a.name, lambda: cohort_jobs)])
    assert cohort_jobs[0].was_submitted.wait(timeout=30)  # by the thread, at the limiter's pace
    scheduler.stop()
    (thread,) = [t for t in threading.enumerate() if t.name == "tap-branch cohort jobs"]
    thread.join(timeout=30)
    assert not thread.is_alive()
    sent = len(fast.sandbox.request_log)
    assert sent < 3 + 10  # 3 submissions and a few polls at most
    assert len(fast.sandbox.request_log) == sent  # the thread is gone: nothing more goes out
