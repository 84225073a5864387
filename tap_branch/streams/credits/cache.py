"""What the credits and app config streams of one run share (`RunCaches.of(CreditsCache)`):
nothing yet."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass
class CreditsCache:
    pass
