"""What the streams of one run share: each family's cache, and the rate limiters.

A family declares its cache as a dataclass in its own package (`DailyCache`: a day's file
lists, asked once for every stream of the family; what was logged once) and asks for it by
type: `caches.of(DailyCache)`, created on the first ask. A tap holds one `RunCaches`
(`TapBranch.caches`): two runs in one process (tests, the Airbyte source) share nothing.

The rate limiters live here too (`limiter`): every stream of a run that talks to one API
paces itself on the same windows (the cohort streams, each Custom Exports report type), and
a second run starts from an idle account rather than the first run's counts.
"""

from __future__ import annotations

import threading
import typing as t

from tap_branch.api.ratelimit import DEFAULT_MARGIN_SECONDS, Limiter

if t.TYPE_CHECKING:
    import logging

C = t.TypeVar("C")


class RunCaches:
    """One run's caches, keyed by type, and its limiters, keyed by name, windows and margin."""

    def __init__(self) -> None:
        self._caches: dict[type, t.Any] = {}
        self._limiters: dict[tuple[str, tuple[tuple[int, float], ...], float], Limiter] = {}
        # The cohort jobs' background thread asks too.
        self._lock = threading.Lock()

    def of(self, cache_type: type[C]) -> C:
        """The run's `cache_type`, made (with no arguments) on the first ask."""
        with self._lock:
            cache = self._caches.get(cache_type)
            if cache is None:
                cache = self._caches[cache_type] = cache_type()
            return cache

    def renew(self, cache_type: type[C]) -> C:
        """A fresh `cache_type` from now on (the run's progress counts from the sync's start)."""
        with self._lock:
            cache = self._caches[cache_type] = cache_type()
            return cache

    def limiter(
        self,
        name: str,
        windows: t.Sequence[tuple[int, float]],
        logger: logging.Logger,
        *,
        margin: float = DEFAULT_MARGIN_SECONDS,
    ) -> Limiter:
        """The run's limiter `name`: every stream that talks to one API shares it.

        Keyed by name, windows and margin too, so a limiter is never handed out with other
        windows than its asker's."""
        key = (name, tuple((int(limit), float(sec)) for limit, sec in windows), float(margin))
        with self._lock:
            found = self._limiters.get(key)
            if found is None:
                found = self._limiters[key] = Limiter(name, windows, logger, margin=margin)
            return found
