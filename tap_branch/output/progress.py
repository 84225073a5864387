"""Progress a person can follow, in one place: an INFO line per export file read, per unit
completed (a day, a scheduled export job, a Custom Exports window) and per change of an
asynchronous job's state (cohort, Custom Exports and Aggregate Exports jobs), on the
`tap-branch.progress` logger, with the run's running totals.

The SDK's METRIC lines (JSON counters and timers on its `singer_sdk.metrics` logger) are for
machines: `quiet_metrics` keeps them off the console unless the SDK's logging config
(`SINGER_SDK_LOG_CONFIG`, a `logging.config.dictConfig` YAML file) says where they go
(docs/operations.md, "Progress in the log", has one that writes them to a file).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
import typing as t

from singer_sdk import metrics

LOGGER = logging.getLogger("tap-branch.progress")


def quiet_metrics() -> None:
    """The METRIC lines go to the `singer_sdk.metrics` logger only, not up to the console's
    handler, unless a logging config of the user's decides (the SDK's `SINGER_SDK_LOG_CONFIG`)."""
    if os.environ.get("SINGER_SDK_LOG_CONFIG"):
        return
    logger = metrics.get_metrics_logger()
    logger.propagate = False
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())


@dataclasses.dataclass
class _Count:
    rows: int = 0
    bytes: int = 0
    files: int = 0
    started: float = dataclasses.field(default_factory=time.monotonic)

    def add(self, rows: int, size: int) -> None:
        self.rows += rows
        self.bytes += size
        self.files += 1

    def summary(self) -> str:
        seconds = time.monotonic() - self.started
        return (
            f"{self.rows:,} rows, {_size(self.bytes)} in {self.files:,} file"
            f"{'' if self.files == 1 else 's'}, {_duration(seconds)} ({_rate(self.rows, seconds)})"
        )


class RunProgress:
    """The counts of one run (`progress_of`): the whole run's, and each stream's current unit."""

    def __init__(self) -> None:
        self.run = _Count()
        self._units: dict[str, _Count] = {}

    def file_read(self, stream: str, label: str, rows: int, size: int, seconds: float) -> None:
        """One export file read to its end: `rows` records (or rows) from `size` bytes."""
        self.run.add(rows, size)
        unit = self._units.get(stream)
        if unit is None:
            unit = self._units[stream] = _Count(started=time.monotonic() - seconds)
        unit.add(rows, size)
        LOGGER.info(
            "%s: read %s: %s rows, %s in %s (%s). Run so far: %s.",
            stream,
            label,
            f"{rows:,}",
            _size(size),
            _duration(seconds),
            _rate(rows, seconds),
            self.run.summary(),
        )

    def unit_done(self, stream: str, unit: str) -> None:
        """A unit of `stream` complete, every file of it read: a day, a scheduled export job,
        a Custom Exports window."""
        count = self._units.pop(stream, None) or _Count()
        LOGGER.info(
            "%s: %s complete: %s. Run so far: %s.",
            stream,
            unit,
            count.summary(),
            self.run.summary(),
        )


def progress_of(stream: t.Any) -> RunProgress:
    """The run's progress, shared by its streams (`TapBranch.caches`)."""
    return stream.caches.of(RunProgress)


def job_state(label: str, state: str, seconds: float) -> None:
    """An asynchronous job changed state (`tap_branch.api.jobs`): submitted, a new status from
    Branch, done, failed."""
    LOGGER.info("%s: %s after %s.", label, state, _duration(seconds))


def _size(count: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count:,} B" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    return (
        f"{minutes} min {seconds:02d} s"
        if minutes < 60
        else f"{minutes // 60} h {minutes % 60:02d} min"
    )


def _rate(rows: int, seconds: float) -> str:
    return f"{rows / seconds:,.0f} rows/s" if seconds > 0 else "- rows/s"
