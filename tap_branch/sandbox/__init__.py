"""The local Branch sandbox: `tap-branch-sandbox --port N --seed S`.

API families register their routes from their own modules (`register(sandbox)`).
"""

from tap_branch.sandbox import (
    cohort,
    credits,
    daily_export,
    event_exports,
    query_api,
    scheduled_exports,
)

FAMILIES = [daily_export, cohort, scheduled_exports, credits, event_exports, query_api]
