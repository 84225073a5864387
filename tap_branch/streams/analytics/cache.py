"""What the Query API and Aggregate Exports streams of one run share
(`RunCaches.of(AnalyticsCache)`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class AnalyticsCache:
    #: The APIs ("Query API", "Aggregate Exports") whose calls of the run were announced.
    announced: set[str] = dataclasses.field(default_factory=set)
