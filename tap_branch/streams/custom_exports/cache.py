"""What the Custom Exports streams of one run share (`RunCaches.of(CustomExportsCache)`)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class CustomExportsCache:
    #: Fields Branch said are not available, by report type: requested no more this run.
    dropped_fields: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    #: Report types whose dropped fields were warned about (once a run each).
    dropped_logged: set[str] = dataclasses.field(default_factory=set)
    #: Report types Branch's readiness check does not know (warned about once a run each).
    ready_unknown: set[str] = dataclasses.field(default_factory=set)
