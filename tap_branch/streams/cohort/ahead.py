"""Cohort jobs submitted ahead: a later report's windows, while an earlier report's last jobs run.

The SDK syncs streams one after another. Without this, Branch would sit idle at the end of
every report: its last jobs run while the rate limits allow more calls than their polls
use, and the next report's first jobs start only after them. So when a cohort stream has
submitted all its windows and has job slots free (`cohort_max_concurrent_jobs`), it submits
the windows of the selected cohort streams that run after it, in their order.

One `JobsAhead` per run, in the run cache. A job submitted ahead is exactly the request the
later stream would send: its own report's query for a window it plans from its own bookmark
(read, not created, so STATE does not change before its turn). It is used only when that
stream, in its own turn, plans the same window; its records and state stay its own. A job
it no longer plans (the day changed in between) is dropped, logged. Jobs waiting here count
against every stream's bound on jobs in flight.
"""

from __future__ import annotations

import typing as t

import requests
from singer_sdk.exceptions import ConfigValidationError, FatalAPIError, RetriableAPIError

if t.TYPE_CHECKING:
    from tap_branch.jobs import Job
    from tap_branch.streams.cohort.stream import CohortStream, Window

#: Failures of submitting ahead that the later stream meets again, and reports, in its own turn.
_ITS_OWN_TURN = (ConfigValidationError, FatalAPIError, RetriableAPIError, requests.RequestException)


class JobsAhead:
    def __init__(self) -> None:
        self._parked: dict[str, dict[Window, Job[Window]]] = {}
        self._started: set[str] = set()
        self._queue: t.Iterator[tuple[CohortStream, Window]] | None = None

    def busy(self) -> int:
        """Jobs submitted ahead and not yet claimed by their stream."""
        return sum(len(jobs) for jobs in self._parked.values())

    def claim(self, stream: CohortStream) -> dict[Window, Job[Window]]:
        """The jobs submitted ahead for `stream`, now its own; none are submitted for it after."""
        self._started.add(stream.name)
        return self._parked.pop(stream.name, {})

    def submit(self, current: CohortStream, later: list[CohortStream], free: int) -> None:
        """Up to `free` jobs for the windows of `later` streams (those that run after `current`)."""
        if self._queue is None:
            self._queue = self._windows_of(later)
        for _ in range(free):
            try:
                stream, window = next(self._queue, (None, None))
                if stream is None or window is None:
                    return
                job = stream.submit_window(window, ahead_of=current.name)
            except _ITS_OWN_TURN as exc:
                current.logger.warning(
                    "%s: submitting the next cohort report's jobs ahead failed (%s); "
                    "each report submits its own in its turn.",
                    current.name,
                    exc,
                )
                self._queue = iter(())
                return
            self._parked.setdefault(stream.name, {})[window] = job

    def _windows_of(self, later: list[CohortStream]) -> t.Iterator[tuple[CohortStream, Window]]:
        for stream in later:
            if stream.name in self._started:
                continue
            _, _, windows = stream.plan(None, warn=False)  # warnings are for its own turn
            for window in windows:
                if stream.name in self._started:
                    break  # its turn has come: it submits the rest itself
                yield stream, window
