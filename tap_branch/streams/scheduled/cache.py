"""What the scheduled exports streams of one run share (`RunCaches.of(ScheduledCache)`):
nothing yet (the parent and child streams share their `ScheduledRun` directly)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class ScheduledCache:
    pass
