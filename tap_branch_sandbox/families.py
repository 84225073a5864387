"""The API families the sandbox serves: each registers its routes from its own module
(`register(sandbox)`)."""

from tap_branch_sandbox import (
    cohort,
    credits,
    daily_export,
    event_exports,
    query_api,
    scheduled_exports,
)

FAMILIES = [daily_export, cohort, scheduled_exports, credits, event_exports, query_api]
