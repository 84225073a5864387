"""Stream families, a package each. Every family's `__init__` declares `SETTINGS` (its config
properties) and `build_streams(tap)` (its stream instances); `TapBranch` joins them."""

from tap_branch.streams import analytics, cohort, credits, custom_exports, daily, scheduled

FAMILIES = [daily, cohort, scheduled, credits, custom_exports, analytics]
