"""Client-side rate limiting: several windows at once, shared by the streams of a run by name
(`tap_branch.api.run_caches.RunCaches.limiter`).

Branch enforces more than one window on the same API (the Cohort API: 2 requests a
second, 5 a minute and 150 an hour). Waiting out 429s would work but wastes calls and
can lock an account out for the rest of an hour, so the tap paces itself instead.

The counting is pyrate-limiter's (`InMemoryBucket`, a sliding-window log over every
`Rate` at once). We do not use its `Limiter` wrapper: its blocking wait sleeps silently,
and the tap must log every wait with its reason (which window is full, how long), so
a user sees why a run is slow. We therefore put items without blocking, read the
failing rate and the wait from the bucket, log, and sleep ourselves.

A request is counted when it is admitted, and a caller that can say when its answer
came (`answered`; `BranchStream.send` does, after every attempt) moves it there: the
server counted it at some moment in between, so counting from the answer is never early,
however slow the server or the network was. Every window is still widened by a margin
(`padded`), for what the trip to the server does not explain.
"""

from __future__ import annotations

import bisect
import logging
import math
import threading
import time
import typing as t

from pyrate_limiter import AbstractClock, InMemoryBucket, Rate, RateItem
from singer_sdk import typing as th

from tap_branch.config.errors import invalid_setting

if t.TYPE_CHECKING:
    from tap_branch.api.run_caches import RunCaches

#: Seconds added to every window by default (`margin`). Not for the trip to the server: a
#: request is counted from its answer (`answered`), after the server counted it. For how the
#: server stamps requests: a request may be counted by one of Branch's servers and the next
#: by another, whose clocks disagree by milliseconds; a request exactly one window old may
#: still count; its clock may tick in coarser steps than ours (whole milliseconds).
DEFAULT_MARGIN_SECONDS = 0.05

#: And this fraction of every window, for clock rates: the kernel's NTP discipline may run a
#: clock up to 500 ppm fast or slow, so a window measured by ours may be up to 0.1% short on a
#: server's clock adjusted the other way (an hour: 3.6 s).
CLOCK_RATE_MARGIN = 0.001


def padded(seconds: float, margin: float = DEFAULT_MARGIN_SECONDS) -> float:
    """A window of `seconds` as the limiter counts it: widened by both margins. A window
    shorter than `margin` gets its own length instead (time-scaled tests and benchmarks)."""
    return seconds * (1 + CLOCK_RATE_MARGIN) + min(margin, seconds)


#: The longest silence during a wait: a wait of an hour logs a line every minute, with the
#: time left, so a run that waits never looks hung.
WAIT_LOG_INTERVAL_SECONDS = 60.0


def sleep(seconds: float) -> None:
    """Every wait of the tap's rate limiting goes through here (tests set a clock instead)."""
    time.sleep(seconds)


def wait_out(seconds: float, logger: logging.Logger, line: t.Callable[[float], str]) -> None:
    """Sleep `seconds`, logging `line(seconds left)` at the start and at least every
    `WAIT_LOG_INTERVAL_SECONDS`, under the logger of the stream that waits."""
    left = seconds
    while left > 0:
        logger.warning("%s", line(left))
        chunk = min(left, WAIT_LOG_INTERVAL_SECONDS)
        sleep(chunk)
        left -= chunk


def _describe_window(limit: int, seconds: float) -> str:
    return f"{limit} requests / {seconds:g} s"


class Limiter:
    """Admits a request only when every window still has room; blocks (and says why) until then."""

    def __init__(
        self,
        name: str,
        windows: t.Sequence[tuple[int, float]],
        logger: logging.Logger,
        *,
        margin: float = DEFAULT_MARGIN_SECONDS,
        sleep: t.Callable[[float], None] | None = None,
        clock: AbstractClock | None = None,
    ) -> None:
        if not windows:
            raise ValueError(f"rate limiter {name!r} needs at least one (limit, seconds) window")
        for limit, seconds in windows:
            if int(limit) < 1 or float(seconds) <= 0:
                raise ValueError(
                    f"rate limiter {name!r}: window ({limit}, {seconds}) must allow at least "
                    "1 request in a positive number of seconds"
                )
        self.name = name
        self.windows = [(int(limit), float(seconds)) for limit, seconds in windows]
        self.logger = logger
        self._sleep = sleep  # None: the module's sleep(), looked up at each wait
        if margin < 0:
            raise ValueError(f"rate limiter {name!r}: margin {margin} must not be negative")
        # Window length in whole ms as pyrate-limiter counts it, padded, rounded up (`padded`).
        self._interval_ms = {
            (limit, seconds): max(1, math.ceil(1000 * padded(seconds, margin)))
            for limit, seconds in self.windows
        }
        rates = [
            Rate(limit, self._interval_ms[(limit, sec)]) for limit, sec in _binding(self.windows)
        ]
        try:
            self._bucket = InMemoryBucket(rates)
        except ValueError as exc:
            # pyrate-limiter wants longer windows to allow more requests at a lower rate.
            raise ValueError(
                f"rate limiter {name!r}: windows {self.windows} cannot be combined: a longer "
                "window must allow more requests, at a lower average rate, than a shorter one"
            ) from exc
        if clock is not None:
            # pyrate-limiter reads the time from its bucket's clock backend (tests set one).
            self._bucket._clock = clock
        self._lock = threading.Lock()
        #: Per thread, the item of the request it was last admitted for (see `answered`).
        self._sent = threading.local()
        #: Requests admitted and total seconds waited, for logs, tests and benchmarks.
        self.admitted = 0
        self.waited_seconds = 0.0

    def acquire(self, what: str = "", logger: logging.Logger | None = None) -> None:
        """Block until a request may go; count it. Every wait is logged with its reason, under
        `logger` (the stream that waits; the limiter is shared) at least once a minute."""
        while True:
            with self._lock:
                item = RateItem(self.name, self._bucket.now())
                if self._bucket.put(item):
                    self._sent.item = item
                    self.admitted += 1
                    if self.admitted % 200 == 0:
                        self._bucket.leak(item.timestamp)  # keep the log bounded
                    return
                rate = self._bucket.failing_rate
                wait_ms = self._bucket.waiting(item)
            wait = max(wait_ms, 1) / 1000
            window = next(w for w in self.windows if self._interval_ms[w] == rate.interval)
            (logger or self.logger).log(
                logging.WARNING if wait > WAIT_LOG_INTERVAL_SECONDS else logging.INFO,
                "Rate limit %s: waiting %.2f s before %s: the %s window is full.",
                self.name,
                wait,
                what or "the next request",
                _describe_window(*window),
            )
            # At most a minute at a time: the loop then logs again, with the time left.
            chunk = min(wait, WAIT_LOG_INTERVAL_SECONDS)
            self.waited_seconds += chunk
            (self._sleep or sleep)(chunk)

    def answered(self) -> None:
        """The request this thread was last admitted for has its answer (or failed): count it
        from now. Branch counts a request when it arrives, after we admitted it; a busy
        server or network can delay that by any time (measured: ~60 ms on a loaded machine),
        and the next request, sent on time by the admission, would then be one too many."""
        item = getattr(self._sent, "item", None)
        if item is None:
            return
        self._sent.item = None
        with self._lock:
            items = self._bucket.items
            try:
                items.remove(item)  # identity: RateItem has no __eq__
            except ValueError:
                return  # already leaked: older than every window
            item.timestamp = max(item.timestamp, self._bucket.now())
            bisect.insort(items, item, key=lambda i: i.timestamp)  # the bucket keeps them sorted

    def budget(self, seconds: float) -> int:
        """How many requests the windows allow from now over the next `seconds`.

        Simulates greedy use of every window from the requests already counted, so it
        is exact for short horizons; beyond two of the longest windows it extrapolates
        at the tightest window's steady rate.
        """
        with self._lock:
            now = self._bucket.now()
            history = [item.timestamp for item in self._bucket.items]
        horizon_ms = max(0, round(seconds * 1000))
        longest = max(self._interval_ms.values())
        simulated_ms = min(horizon_ms, 2 * longest)
        count = _simulate(history, list(self._interval_ms.items()), now, now + simulated_ms)
        rest_ms = horizon_ms - simulated_ms
        if rest_ms > 0:
            count += int(min(limit * rest_ms / ms for (limit, _), ms in self._interval_ms.items()))
        return count

    def seconds_for(self, requests: int) -> float:
        """Shortest time in which `requests` more requests can go, from an idle start."""
        if requests <= 0:
            return 0.0
        # Each window allows `limit` per interval; after the first burst, a request waits
        # for the one `limit` places before it to leave the window.
        return max(((requests - 1) // limit) * seconds for limit, seconds in self.windows)


def _binding(windows: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """Drop windows that another window already implies (pyrate-limiter rejects those lists)."""

    def implied(window: tuple[int, float]) -> bool:
        limit, seconds = window
        for other_limit, other_seconds in windows:
            if (other_limit, other_seconds) == window:
                continue
            if other_seconds >= seconds and other_limit <= limit:
                return True  # the longer window never lets this many through
            if other_seconds < seconds and other_limit * -(-seconds // other_seconds) <= limit:
                return True  # the shorter window caps this one below its limit
        return False

    kept = sorted({w for w in windows if not implied(w)}, key=lambda w: w[1])
    return kept or [min(windows, key=lambda w: w[0] / w[1])]


def _simulate(
    history: list[int], windows: list[tuple[tuple[int, float], int]], start: int, end: int
) -> int:
    """Greedily admit requests in [start, end] (ms) under every window; return how many."""
    stamps = sorted(history)
    admitted = 0
    moment = start
    while moment <= end:
        earliest = moment
        for (limit, _), interval in windows:
            first_in_window = bisect.bisect_right(stamps, earliest - interval)
            if len(stamps) - first_in_window >= limit:
                earliest = max(earliest, stamps[len(stamps) - limit] + interval)
        if earliest != moment:
            moment = earliest  # re-check every window at the later moment
            continue
        stamps.append(moment)
        admitted += 1
    return admitted


def configured_limiter(
    caches: RunCaches,
    config: t.Mapping[str, t.Any],
    name: str,
    defaults: t.Sequence[tuple[int, float]],
    logger: logging.Logger,
) -> Limiter:
    """The run's limiter `name` (`RunCaches.limiter`) as settings `<name>_rate_limits`
    ([{requests, seconds}], else `defaults`) and `<name>_rate_limit_margin` set it: one
    reading for every family that has them (a window pyrate-limiter refuses fails naming the
    setting)."""
    setting = f"{name}_rate_limits"
    configured = config.get(setting)
    windows = (
        [(int(w["requests"]), float(w["seconds"])) for w in configured]
        if configured
        else list(defaults)
    )
    margin = config.get(f"{name}_rate_limit_margin")
    try:
        return caches.limiter(
            name,
            windows,
            logger,
            margin=DEFAULT_MARGIN_SECONDS if margin is None else float(margin),
        )
    except ValueError as exc:
        raise invalid_setting(f"Setting '{setting}': {exc}") from None


def windows_setting(
    name: str, *, count: str = "requests", default: t.Any = None, description: str
) -> th.Property:
    """A setting listing rate-limit windows, `[{<count>, seconds}]`, all enforced at once."""
    return th.Property(
        name,
        th.ArrayType(
            th.ObjectType(
                th.Property(count, th.IntegerType(minimum=1), required=True),
                th.Property("seconds", th.NumberType(exclusive_minimum=0), required=True),
            )
        ),
        default=default,
        description=description,
    )


def limit_settings(
    prefix: str,
    defaults: t.Sequence[tuple[int, float]],
    *,
    limits: str,
    margin: str | None = None,
) -> list[th.Property]:
    """The settings `configured_limiter` reads for limiter `prefix`: `<prefix>_rate_limits`,
    described by `limits` with `{defaults}` standing for the `defaults` windows ("2/1 s,
    5/60 s"), and, when `margin` describes it, `<prefix>_rate_limit_margin`."""
    shown = ", ".join(f"{limit}/{seconds:g} s" for limit, seconds in defaults)
    settings = [windows_setting(f"{prefix}_rate_limits", description=limits.format(defaults=shown))]
    if margin is not None:
        settings.append(
            th.Property(
                f"{prefix}_rate_limit_margin",
                th.NumberType(minimum=0),
                default=DEFAULT_MARGIN_SECONDS,
                description=margin,
            )
        )
    return settings
