"""The tap's one clock, and the one parser of Branch's date and time forms.

Everything that asks "what time is it" (which days are complete, which hours Branch has
finished, a record's time_extracted) asks `now()` / `today()`. Tests set the clock instead of
waiting for the wall clock: in process with `set_now(moment)`, and for a tap run as a
subprocess with the environment variable `TAP_BRANCH_TEST_NOW` (an ISO 8601 moment). A set
clock stands still. Durations (polling, timeouts, rate limits) use `time.monotonic`, not this.
"""

from __future__ import annotations

import datetime as dt
import os
import typing as t

from tap_branch.records.typers import parse_datetime

UTC = dt.timezone.utc
#: An ISO 8601 moment the tap takes as "now" (tests; never needed in production).
ENV = "TAP_BRANCH_TEST_NOW"

_set: dt.datetime | None = None
_from_env: tuple[str, dt.datetime] | None = None


def set_now(moment: dt.datetime | None) -> None:
    """Stop the clock at `moment` (UTC if naive); None lets it run with the wall clock again."""
    global _set
    _set = None if moment is None else _utc(moment)


def now() -> dt.datetime:
    """The current moment, timezone-aware UTC."""
    if _set is not None:
        return _set
    text = os.environ.get(ENV)
    if text:
        global _from_env
        if _from_env is None or _from_env[0] != text:
            _from_env = (text, parse_moment(text))
        return _from_env[1]
    return dt.datetime.now(UTC)


def today() -> dt.date:
    """The current UTC day."""
    return now().date()


def parse_moment(value: t.Any) -> dt.datetime:
    """A timezone-aware UTC datetime from any of Branch's forms: ISO 8601 dates and times (with
    `Z`, an offset or none, `T` or a space) and epochs in seconds or milliseconds. Raises
    ValueError for anything else."""
    return dt.datetime.fromisoformat(parse_datetime(value))


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
