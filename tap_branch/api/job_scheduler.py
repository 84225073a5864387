"""Report jobs submitted and polled in a background thread, for every stream of a run that
owns some (the model is Airbyte source-facebook-marketing's `InsightAsyncJobManager`).

Why a thread: Branch's limits (2/s, 5/min, 150/h for cohorts) space the API calls, and the
main thread spends seconds of CPU processing result files (parsing, typing, emitting
records). Calls made between results wait for that processing, and a slot the limiter
allowed but nobody used is lost for good: a backfill then runs well past what the limits
impose. So one thread per run makes the jobs' API calls (submissions and polls, each through
the job's own API: the stream's one sender and the family's limiter, which paces them) while
the main thread fetches finished results and emits their records. The scheduler only bounds
how many jobs are in flight (`most`) and when each is polled (`jobs.Polling`).

Why one thread for several streams: the SDK syncs streams one after another. When the first
stream starts, the jobs of the selected streams are planned in that order (`plan`) and
queued; the thread keeps up to `most` jobs in flight through the whole queue, so Branch
computes the next stream's jobs while the previous stream's last ones run. A finished job is
held for its owner.

Each stream's records and state stay its own: a stream, in its turn on the main thread,
takes only its own jobs, and only for the keys it plans itself then (the day may have
changed since: the others are dropped, `ReportJob.unused`, and the missing ones queued first).

Errors: a job that fails (submission refused, ERROR, past its timeout) is its owner's error,
raised on the main thread in that owner's turn (at once for the owner syncing), naming the
job or window (`ReportJob.failure`); the thread drops that owner's remaining jobs and goes on
with the others'. After `stop` it sends nothing more. It knows no stream: owners are names.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import typing as t

from tap_branch.api import jobs

#: A stream's plan, called once: the jobs it will take (raising is its own error, for its turn).
Planner = t.Callable[[], t.Iterable[jobs.ReportJob]]


class _Dropped(Exception):
    """A job nobody will take (its owner failed or no longer plans its key)."""


class _Stopped(BaseException):
    """The run is over (or failing): the thread sends nothing more."""


class JobScheduler:
    """The run's report jobs of one API: queued by their owners, run by the thread, finished
    ones held per owner."""

    def __init__(self, polling: jobs.Polling, most: int, *, name: str = "report jobs") -> None:
        self._polling = polling
        self._most = most
        self._name = name
        self._changed = threading.Condition()
        self._queue: collections.deque[jobs.ReportJob] = collections.deque()
        #: Per owner, by key: every job queued, in flight or finished and not yet taken.
        self._known: dict[str, dict[t.Hashable, jobs.ReportJob]] = collections.defaultdict(dict)
        #: Per owner, by key: the finished jobs, in the order they finished.
        self._finished: dict[str, dict[t.Hashable, jobs.ReportJob]] = collections.defaultdict(dict)
        self._errors: dict[str, Exception] = {}
        self._broken: BaseException | None = None
        self._planned: set[str] = set()
        self._stop = False
        #: The owner syncing now (its jobs are not "ahead").
        self._current: str | None = None
        self._thread: threading.Thread | None = None

    # --- the main thread -------------------------------------------------------------

    def plan(self, planners: t.Iterable[tuple[str, Planner]]) -> None:
        """Queue the jobs of each (owner, its plan), in that order, for owners not planned
        before. A plan that raises is its owner's error, raised in its turn."""
        queued: list[jobs.ReportJob] = []
        for owner, planner in planners:
            if owner in self._planned:
                continue
            self._planned.add(owner)
            try:
                queued.extend(planner())
            except Exception as exc:
                with self._changed:
                    self._errors[owner] = exc
        self._enqueue(queued, first=False)

    def results(
        self, owner: str, planned: t.Iterable[jobs.ReportJob]
    ) -> t.Iterator[jobs.ReportJob]:
        """The finished jobs of the keys `owner` plans now (`planned`), in the order they
        finish, and of those `requeue_first` adds meanwhile. Jobs queued before for other keys
        are dropped; planned keys not queued yet are queued first. Raises the owner's failed
        job (or the thread's own failure)."""
        planned = list(planned)
        keys = {job.key for job in planned}
        with self._changed:
            self._current = owner
            self._raise_failure(owner)
            known = self._known[owner]
            stale = [key for key in known if key not in keys]
            with contextlib.suppress(TypeError):  # logged in key order when keys have one
                stale.sort()
            for key in stale:
                known.pop(key).unused()
                self._finished[owner].pop(key, None)
            missing = [job for job in planned if job.key not in known]
        self._enqueue(missing, first=True)
        while (job := self._take(owner)) is not None:
            yield job

    def fetched(
        self, owner: str, planned: t.Iterable[jobs.ReportJob]
    ) -> t.Iterator[tuple[jobs.ReportJob, jobs.Fetched]]:
        """(job, its result) for `results(owner, planned)`, fetched on the caller's thread; a
        result at the row cap has its halves queued first instead."""
        for job in self.results(owner, planned):
            fetched = job.fetch()
            if isinstance(fetched, jobs.SplitNeeded):
                self.requeue_first(fetched.halves)
                continue
            yield job, fetched

    def requeue_first(self, queued: list[jobs.ReportJob]) -> None:
        """Queue `queued` (the halves of a job just taken) ahead of everything else."""
        self._enqueue(queued, first=True)

    def stop(self) -> None:
        """No more calls: the run is over or failing (a call already waiting may still go)."""
        with self._changed:
            self._stop = True
            self._changed.notify_all()

    def _enqueue(self, queued: list[jobs.ReportJob], *, first: bool) -> None:
        if not queued:
            return
        with self._changed:
            for job in queued:
                self._known[job.owner][job.key] = job
            if first:
                self._queue.extendleft(reversed(queued))
            else:
                self._queue.extend(queued)
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name=f"tap-branch {self._name}", daemon=True
                )
                self._thread.start()

    def _take(self, owner: str) -> jobs.ReportJob | None:
        """A finished job of `owner` (waiting for one), or None when it has no job left."""
        with self._changed:
            while True:
                self._raise_failure(owner)
                held = self._finished[owner]
                if held:
                    key = next(iter(held))
                    self._known[owner].pop(key, None)
                    return held.pop(key)
                if not self._known[owner]:
                    return None
                self._changed.wait()

    def _raise_failure(self, owner: str) -> None:
        if self._broken is not None:
            raise self._broken
        if owner in self._errors:
            raise self._errors[owner]

    # --- the thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._changed:
                    while not self._queue and not self._stop:
                        self._changed.wait()
                    if self._stop:
                        return
                finished = jobs.run(
                    self._polling,
                    self._queue,
                    submit=self._submit,
                    check=self._check,
                    timed_out=lambda job, status, waited: job.work.timed_out(status, waited),
                    most=self._most,
                    failed=self._failed,
                )
                for job, _ in finished:
                    self._done(job.work)
        except _Stopped:
            return
        except BaseException as exc:  # a bug, not a job's failure: whoever waits must hear of it
            with self._changed:
                self._broken = exc
                self._changed.notify_all()

    def _wanted(self, job: jobs.ReportJob) -> None:
        with self._changed:
            if self._stop:
                raise _Stopped
            if job.owner in self._errors or self._known[job.owner].get(job.key) is not job:
                raise _Dropped

    def _submit(self, job: jobs.ReportJob) -> jobs.Job[jobs.ReportJob]:
        self._wanted(job)
        job.submit(ahead_of=self._current if self._current != job.owner else None)
        return self._polling.start(job, str(job.job_id), job.label)

    def _check(self, polled: jobs.Job[jobs.ReportJob]) -> jobs.Finished | jobs.Pending:
        self._wanted(polled.work)
        return polled.work.poll()

    def _failed(self, job: jobs.ReportJob, error: Exception) -> None:
        if isinstance(error, _Dropped):
            return
        with self._changed:
            self._errors.setdefault(job.owner, job.failure(error))
            self._known[job.owner].clear()  # its other jobs are dropped: the owner fails
            self._finished[job.owner].clear()
            self._changed.notify_all()

    def _done(self, job: jobs.ReportJob) -> None:
        with self._changed:
            owner = job.owner
            if self._known[owner].get(job.key) is job and owner not in self._errors:
                self._finished[owner][job.key] = job
                self._changed.notify_all()
