"""Cohort jobs submitted and polled in a background thread, for every cohort stream of a run.

Why a thread: Branch's limits (2/s, 5/min, 150/h) space the API calls, and the main
thread spends seconds of CPU processing result files (parsing, typing, emitting
records). Calls made between results wait for that processing, and a slot the limiter
allowed but nobody used is lost for good: a backfill then runs well past what the
limits impose. So one thread per run makes every cohort API call (submissions and
polls, through the process-wide limiter) while the main thread downloads finished
results and emits their records.

Why one thread for all the streams: the SDK syncs streams one after another. When the
first cohort stream starts, the windows of the selected cohort streams are planned in
that order (later ones from their own bookmarks, read and not created, so STATE does
not change before their turn) and queued; the thread keeps up to
`cohort_max_concurrent_jobs` jobs in flight through the whole queue, so Branch computes
the next report's jobs while the previous report's last ones run, and their polls do not
wait for that report's records. A finished job's result (its URL) is held for its stream.

Each stream's records and state stay its own: a stream, in its turn on the main thread,
takes only its own results, and only for the windows it plans itself then (the day may
have changed since: the others are dropped, logged, and the missing ones queued first).

Errors: a job that fails (submission refused, ERROR, past its timeout) is its stream's
error, raised on the main thread in that stream's turn (at once for the stream syncing),
naming the job or window; the thread drops that stream's remaining jobs and goes on with
the others'. The thread writes nothing to stdout (records and STATE are the main
thread's); it logs like the streams it calls for.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import typing as t

from singer_sdk.exceptions import ConfigValidationError, FatalAPIError

from tap_branch.api import jobs

if t.TYPE_CHECKING:
    from tap_branch.streams.cohort.stream import CohortStream, Window


@dataclasses.dataclass(frozen=True)
class Task:
    """One window of one stream: a job to submit."""

    stream: CohortStream
    window: Window


@dataclasses.dataclass(frozen=True)
class Result:
    """A finished job of the stream taking it: its window, job id and result URL."""

    window: Window
    job_id: str
    url: str


class _Dropped(Exception):
    """A task or job nobody will take (its stream failed or no longer plans its window)."""


class _Stopped(BaseException):
    """The run is over (or failing): the thread sends nothing more."""


class CohortJobs:
    """The run's cohort jobs: queued by the streams, run by the thread, results held per stream."""

    def __init__(self, polling: jobs.Polling, most: int) -> None:
        self._polling = polling
        self._most = most
        self._changed = threading.Condition()
        self._queue: collections.deque[Task] = collections.deque()
        #: Per stream: every window queued, in flight or finished and not yet taken.
        self._known: dict[str, set[Window]] = collections.defaultdict(set)
        self._results: dict[str, dict[Window, Result]] = collections.defaultdict(dict)
        self._errors: dict[str, Exception] = {}
        self._broken: BaseException | None = None
        self._planned: set[str] = set()
        self._stop = False
        #: The stream syncing now (its jobs are not "ahead").
        self._current: str | None = None
        self._thread: threading.Thread | None = None

    # --- the main thread -------------------------------------------------------------

    def plan(self, streams: list[CohortStream]) -> None:
        """Queue the windows of `streams` (in their sync order) not planned before."""
        tasks = []
        for stream in streams:
            if stream.name in self._planned:
                continue
            self._planned.add(stream.name)
            try:
                _, _, windows = stream.plan(None, warn=False)  # warnings are for its own turn
            except Exception as exc:  # its own (its bookmark): raised in its turn
                with self._changed:
                    self._errors[stream.name] = exc
                continue
            tasks.extend(Task(stream, window) for window in windows)
        self._enqueue(tasks, first=False)

    def results(self, stream: CohortStream, planned: list[Window]) -> t.Iterator[Result]:
        """The finished jobs of the windows `stream` plans now, in the order they finish,
        and of the halves `split` adds meanwhile. Raises the stream's failed job (or the
        thread's own failure)."""
        name = stream.name
        with self._changed:
            self._current = name
            self._raise_failure(name)
            known = self._known[name]
            for window in sorted(known - set(planned)):
                stream.logger.info(
                    "%s: the job for %s..%s, queued ahead, is not used: this run plans other windows.",
                    name,
                    *window,
                )
                known.discard(window)
                self._results[name].pop(window, None)
            missing = [Task(stream, w) for w in planned if w not in known]
        self._enqueue(missing, first=True)
        while (result := self._take(name)) is not None:
            yield result

    def split(self, stream: CohortStream, halves: list[Window]) -> None:
        """Queue `halves` of a window just taken, ahead of everything else."""
        self._enqueue([Task(stream, w) for w in halves], first=True)

    def stop(self) -> None:
        """No more calls: the run is over or failing (a call already waiting may still go)."""
        with self._changed:
            self._stop = True
            self._changed.notify_all()

    def _enqueue(self, tasks: list[Task], *, first: bool) -> None:
        if not tasks:
            return
        with self._changed:
            for task in tasks:
                self._known[task.stream.name].add(task.window)
            if first:
                self._queue.extendleft(reversed(tasks))
            else:
                self._queue.extend(tasks)
            self._changed.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="tap-branch cohort jobs", daemon=True
                )
                self._thread.start()

    def _take(self, name: str) -> Result | None:
        """A result of stream `name` (waiting for one), or None when it has no job left."""
        with self._changed:
            while True:
                self._raise_failure(name)
                held = self._results[name]
                if held:
                    window = next(iter(held))
                    self._known[name].discard(window)
                    return held.pop(window)
                if not self._known[name]:
                    return None
                self._changed.wait()

    def _raise_failure(self, name: str) -> None:
        if self._broken is not None:
            raise self._broken
        if name in self._errors:
            raise self._errors[name]

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
                    timed_out=self._timed_out,
                    most=self._most,
                    failed=self._failed,
                )
                for job, url in finished:
                    self._finished(job, url)
        except _Stopped:
            return
        except BaseException as exc:  # a bug, not a job's failure: whoever waits must hear of it
            with self._changed:
                self._broken = exc
                self._changed.notify_all()

    def _wanted(self, task: Task) -> None:
        with self._changed:
            if self._stop:
                raise _Stopped
            name = task.stream.name
            if name in self._errors or task.window not in self._known[name]:
                raise _Dropped

    def _submit(self, task: Task) -> jobs.Job[Task]:
        self._wanted(task)
        ahead_of = self._current if self._current != task.stream.name else None
        job_id = task.stream.submit_window(task.window, ahead_of=ahead_of)
        window = f"{task.window[0]}..{task.window[1]}"
        return self._polling.start(task, job_id, f"{task.stream.name}: job {job_id} for {window}")

    def _check(self, job: jobs.Job[Task]) -> str | jobs.Pending:
        self._wanted(job.work)
        return job.work.stream.check_job(job.job_id, job.work.window)

    def _timed_out(self, job: jobs.Job[Task], status: str, waited: float) -> Exception:
        return job.work.stream.job_timed_out(job.job_id, job.work.window, status, waited)

    def _failed(self, task: Task, error: Exception) -> None:
        if isinstance(error, _Dropped):
            return
        with self._changed:
            name = task.stream.name
            self._errors.setdefault(name, _naming(task, error))
            self._known[name].clear()  # its other jobs are dropped: the stream fails
            self._results[name].clear()
            self._changed.notify_all()

    def _finished(self, job: jobs.Job[Task], url: str) -> None:
        task = job.work
        with self._changed:
            name = task.stream.name
            if task.window in self._known[name] and name not in self._errors:
                self._results[name][task.window] = Result(task.window, job.job_id, url)
                self._changed.notify_all()


def _naming(task: Task, error: Exception) -> Exception:
    """`error`, or one that says which stream and window it is about when it does not."""
    window = f"{task.window[0]}..{task.window[1]}"
    if isinstance(error, ConfigValidationError) or window in str(error):
        return error
    named = FatalAPIError(f"{task.stream.name}: the cohort job for {window} failed: {error}")
    named.__cause__ = error
    return named
