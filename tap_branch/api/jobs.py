"""Asynchronous Branch jobs: submitted, polled until done, an error past their timeout.

Cohort results and Custom Exports are both computed by Branch after a request: one call
submits a job, further calls ask for its status until it is done. This module is the loop
they share: up to `most` jobs in flight, the one due earliest polled next, each wait longer
than the last (capped), a job still pending past its timeout an error. What a job computes,
how it is submitted and polled and what Branch's answers mean stay with each family (the
`submit`, `check` and `timed_out` hooks); requests go through `BranchStream.send()` there.

Waits are durations, so they are measured with `time.monotonic`, not the tap's clock.

`ReportJob` is one such job as an object (the model is Airbyte source-facebook-marketing's
`AsyncJob`): it submits itself, polls itself, says when it has waited too long and fetches
its result, which may be too large to trust and then gives the jobs of its halves. The run's
`tap_branch.api.job_scheduler.JobScheduler` keeps several in flight for the streams that own
them; it knows nothing of a job but this interface.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import math
import time
import typing as t

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_branch.output import progress

W = t.TypeVar("W")  # what a job computes (a window), the caller's
R = t.TypeVar("R")  # what a finished job gives, the caller's


@dataclasses.dataclass(frozen=True)
class Polling:
    """When a job is polled, and how long it may stay pending."""

    #: Seconds from submission (or from the start of waiting) to the first poll.
    first_wait: float
    #: Seconds between the first and the second poll; each further wait is `growth` times the last.
    wait: float
    growth: float = 1.0
    longest_wait: float = math.inf
    #: Seconds a job may stay pending, from its submission, before `timed_out` is raised.
    timeout: float = math.inf

    def start(self, work: W, job_id: str, label: str = "") -> Job[W]:
        """A job just submitted (or one whose waiting starts now), its first poll scheduled;
        `label` names it in the progress lines (`tap_branch.output.progress`)."""
        now = time.monotonic()
        return Job(
            work,
            job_id,
            since=now,
            next_poll=now + self.first_wait,
            wait=self.wait,
            label=label or f"job {job_id}",
        )


@dataclasses.dataclass
class Job(t.Generic[W]):
    work: W
    job_id: str
    #: `time.monotonic()` when the job was submitted (or its waiting started).
    since: float
    next_poll: float
    #: The wait after the next poll that finds the job pending.
    wait: float
    label: str = ""
    #: Branch's last status of the job, once polled.
    status: str | None = None


@dataclasses.dataclass(frozen=True)
class Pending:
    """What `check` returns for a job Branch has not finished: its status, for messages."""

    status: str


Check = t.Callable[[Job[W]], "R | Pending"]
TimedOut = t.Callable[[Job[W], str, float], Exception]


def run(
    polling: Polling,
    work: collections.deque[W],
    *,
    submit: t.Callable[[W], Job[W]],
    check: Check,
    timed_out: TimedOut,
    most: int = 1,
    in_flight: t.Iterable[Job[W]] = (),
    failed: t.Callable[[W, Exception], None] | None = None,
) -> t.Iterator[tuple[Job[W], R]]:
    """(job, its result) for every piece of `work`, in the order the jobs finish.

    Up to `most` jobs are in flight at once (`in_flight`: jobs submitted before). `submit`
    sends one job; `check` polls one and returns its result, or `Pending(status)` while
    Branch is not done (and raises for a failed job). A job pending `polling.timeout`
    seconds after its submission raises `timed_out(job, status, seconds waited)`. The
    consumer may add work (`work.appendleft`) between results, or from another thread:
    appending to a deque is atomic, and only this loop takes work out.

    With `failed`, a piece of work whose submission, poll or timeout raises is handed to
    `failed(work, error)` and dropped, and the other jobs go on (jobs for several owners,
    each failing on its own); without it, the error ends the loop.
    """
    flying: list[Job[W]] = list(in_flight)
    while work or flying:
        while work and len(flying) < most:
            piece = work.popleft()
            try:
                flying.append(submit(piece))
            except Exception as exc:
                if failed is None:
                    raise
                failed(piece, exc)
        if not flying:
            continue
        job = min(flying, key=lambda j: j.next_poll)
        delay = job.next_poll - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        try:
            answer = check(job)
            if isinstance(answer, Pending):
                waited = time.monotonic() - job.since
                if answer.status != job.status:
                    job.status = answer.status
                    progress.job_state(job.label, f"Branch says '{answer.status}'", waited)
                if waited > polling.timeout:
                    raise timed_out(job, answer.status, waited)
                job.wait = min(job.wait * polling.growth, polling.longest_wait)
                job.next_poll = time.monotonic() + job.wait
                continue
        except Exception as exc:
            if failed is None:
                raise
            flying.remove(job)
            failed(job.work, exc)
            continue
        flying.remove(job)
        progress.job_state(job.label, "done", time.monotonic() - job.since)
        yield job, answer


def wait(polling: Polling, job: Job[W], *, check: Check, timed_out: TimedOut) -> R:
    """The result of one job already submitted, polled as `run` polls."""
    for _, result in run(
        polling,
        collections.deque(),
        submit=_nothing_to_submit,
        check=check,
        timed_out=timed_out,
        in_flight=[job],
    ):
        return result
    raise AssertionError("unreachable: run() yields the job it was given")  # pragma: no cover


def _nothing_to_submit(work: t.Any) -> t.NoReturn:  # pragma: no cover - the work queue is empty
    raise AssertionError("wait() submits nothing")


# --- report jobs as objects -------------------------------------------------------------


class JobFailed(FatalAPIError):
    """A report job failed (submission refused, ERROR, past its timeout, its result unreadable):
    the message names the stream that owns it and its window."""


@dataclasses.dataclass(frozen=True)
class Finished:
    """What `ReportJob.poll` returns once Branch has finished the job (the job keeps where its
    result is)."""


@dataclasses.dataclass(frozen=True)
class Fetched:
    """A finished job's result: its row count and its records, read once (`records` is to be
    consumed or dropped once)."""

    rows: int
    records: t.Iterator[dict]


@dataclasses.dataclass(frozen=True)
class SplitNeeded:
    """A finished job whose result reached the row cap (it may be cut): the jobs of its halves,
    to ask instead."""

    halves: list[ReportJob]


class ReportJob(abc.ABC):
    """One asynchronous report job of one window, for the stream that owns it."""

    #: What messages call it ("cohort job").
    kind: str = "job"
    #: Branch's id of the job, once submitted.
    job_id: str | None = None

    @property
    @abc.abstractmethod
    def owner(self) -> str:
        """Who takes the result: a stream's name (only a label to the scheduler)."""

    @property
    @abc.abstractmethod
    def key(self) -> t.Hashable:
        """What the job computes for its owner (its window): one job per key at a time."""

    @property
    @abc.abstractmethod
    def window_text(self) -> str:
        """The key as messages name it ("2026-01-01..2026-01-31")."""

    @abc.abstractmethod
    def submit(self, *, ahead_of: str | None = None) -> None:
        """Send the job to Branch (`ahead_of`: the stream syncing meanwhile, for the log)."""

    @abc.abstractmethod
    def poll(self) -> Finished | Pending:
        """Ask Branch about the job once; raises for a failed job."""

    @abc.abstractmethod
    def timed_out(self, status: str, waited: float) -> Exception:
        """The error for a job still `status` after `waited` seconds, past its timeout."""

    @abc.abstractmethod
    def fetch(self) -> Fetched | SplitNeeded:
        """Read the finished job's result (on the consumer's thread); raises when it cannot be
        used (a single day at the row cap, a file that is not what Branch documents)."""

    @property
    def label(self) -> str:
        """The job in progress lines."""
        return f"{self.owner}: job {self.job_id} for {self.window_text}"

    def unused(self) -> None:  # noqa: B027 - a hook: most jobs have nothing to say
        """Called when the job's owner no longer plans its key (the day changed meanwhile)."""

    def failure(self, error: Exception) -> Exception:
        """`error`, or a `JobFailed` naming the owner and window when it does not say them."""
        if isinstance(error, ConfigValidationError) or self.window_text in str(error):
            return error
        named = JobFailed(f"{self.owner}: the {self.kind} for {self.window_text} failed: {error}")
        named.__cause__ = error
        return named
