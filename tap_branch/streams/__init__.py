"""Stream families. Each module declares `SETTINGS` (its config properties) and
`build_streams(tap)` (its stream instances); `TapBranch` joins them."""

from tap_branch.streams import (
    cohort,
    credits,
    daily_exports,
    event_exports,
    scheduled_exports,
)

FAMILIES = [daily_exports, cohort, scheduled_exports, credits, event_exports]
