"""What the cohort streams of one run share (`RunCaches.of(CohortCache)`)."""

from __future__ import annotations

import dataclasses
import typing as t

if t.TYPE_CHECKING:
    from tap_branch.api.job_scheduler import JobScheduler


@dataclasses.dataclass
class CohortCache:
    #: The run's job scheduler, made by the first cohort stream that syncs: it queues every
    #: selected report's windows and keeps their jobs under one limiter.
    scheduler: JobScheduler | None = None
