"""Stream families, a package each, listed in `FAMILIES`: adding a family is its package and
one line there. What a family's `__init__` exports is `tap_branch.streams.family.Family`;
`TapBranch` and the connection test join them and know no family by name."""

from tap_branch.streams import analytics, cohort, credits, custom_exports, daily, scheduled

FAMILIES = [daily, cohort, scheduled, credits, custom_exports, analytics]
