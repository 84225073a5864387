"""Custom Exports: the settings of the family (fields, filter, windows, polling, limits)."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_branch.api.ratelimit import windows_setting

MAX_WINDOW_DAYS = 60


def _limits_property(name: str, default: list[tuple[int, float]], what: str) -> th.Property:
    return windows_setting(
        name,
        count="limit",
        default=[{"limit": limit, "seconds": seconds} for limit, seconds in default],
        description=f"Custom Exports: {what}, as windows of at most `limit` in `seconds` "
        "(Branch's documented limits by default; lower them if other tools share the account).",
    )


SETTINGS = [
    th.Property(
        "custom_exports_fields",
        th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
        description="Custom Exports: the fields to request, by report type (`eo_click`: [...]) or for every "
        "report type (`default`). Default: a curated set of Branch's event ontology per kind of "
        "report (events, cost, SKAdNetwork). Fields Branch says are not available are dropped with a warning.",
    ),
    th.Property(
        "custom_exports_filter",
        th.AnyType(),
        description="Custom Exports: a Branch `filter` expression sent with every export job, e.g. "
        '["eq", "attributed", "true"]. Default: none.',
    ),
    th.Property(
        "custom_exports_window_days",
        th.IntegerType(minimum=1, maximum=MAX_WINDOW_DAYS),
        default=MAX_WINDOW_DAYS,
        description="Custom Exports: days per export job (at most 60, Branch's maximum). Smaller windows "
        "mean more jobs (25 an hour at most) but smaller files and earlier bookmarks.",
    ),
    th.Property(
        "custom_exports_poll_seconds",
        th.NumberType(exclusive_minimum=0),
        default=15,
        description="Custom Exports: seconds between two status checks of an export job.",
    ),
    th.Property(
        "custom_exports_job_timeout",
        th.NumberType(exclusive_minimum=0),
        default=3 * 3600,
        description="Custom Exports: seconds to wait for one export job before failing the run (the job's "
        "handle stays in state: the next run resumes waiting for it).",
    ),
    th.Property(
        "custom_exports_ready_max_checks",
        th.IntegerType(minimum=1),
        default=48,
        description="Custom Exports: how many hours back from now to look for the last hour Branch has "
        "finished loading (one `/v2/data/ready` request per hour).",
    ),
    th.Property(
        "custom_exports_assumed_delay_hours",
        th.NumberType(minimum=0),
        default=6,
        description="Custom Exports: for report types the readiness check does not know, data is taken "
        "as complete up to this many hours ago (Branch documents at most 6).",
    ),
    _limits_property("custom_exports_create_limits", [(10, 60), (25, 3600)], "export job creation"),
    _limits_property("custom_exports_status_limits", [(50, 60), (1000, 3600)], "job status checks"),
    _limits_property("custom_exports_days_limits", [(100, 3600)], "days of data requested per app"),
]


def setting_default(name: str) -> list[dict]:
    for prop in SETTINGS:
        if prop.name == name:
            return prop.to_dict()[name].get("default") or []
    return []
