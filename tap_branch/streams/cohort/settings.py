"""The cohort family's settings: their schema (`SETTINGS`) and their values as a run reads them
(`CohortSettings`), checked with the same messages wherever they are read."""

from __future__ import annotations

import dataclasses
import typing as t

from singer_sdk import typing as th

from tap_branch.api import jobs
from tap_branch.api.ratelimit import limit_settings
from tap_branch.config.apps import default_app_id, scope_field
from tap_branch.config.errors import invalid_setting
from tap_branch.streams.cohort import catalog

DEFAULT_RATE_LIMITS = [(2, 1.0), (5, 60.0), (150, 3600.0)]

SETTINGS = [
    th.Property(
        "cohort_reports",
        th.ArrayType(
            th.ObjectType(
                th.Property(
                    "name",
                    th.StringType,
                    required=True,
                    description="Stream name suffix: cohort_<name>.",
                ),
                th.Property(
                    "data_source",
                    th.StringType,
                    description="install_cohort (default) or reengagement_cohort.",
                ),
                th.Property(
                    "dimensions",
                    th.ArrayType(th.StringType),
                    description="Up to 10 dimensions (the cohort date is always added).",
                ),
                th.Property(
                    "measures",
                    th.ArrayType(th.StringType),
                    description="1 to 5 measures: documented ones or custom event names. Branch's "
                    "request tables say 3 (its limits table 5): an account that refuses 4 or 5 fails "
                    "the run naming the report; split it.",
                ),
                th.Property(
                    "filters",
                    th.ObjectType(additional_properties=True),
                    description="{dimension: [values]}: AND across dimensions, OR within one.",
                ),
                th.Property(
                    "granularity", th.StringType, description="day (default), week or month."
                ),
                th.Property(
                    "granularity_band_count",
                    th.IntegerType,
                    description="Bands per cohort (default 30).",
                ),
                th.Property("cumulative", th.BooleanType),
                th.Property("per_user", th.BooleanType),
                th.Property("enable_install_recalculation", th.BooleanType),
            )
        ),
        description="Cohort reports, each its own stream cohort_<name>. Default: one report 'installs_by_campaign' "
        "(install cohorts by campaign, channel and ad partner; users, revenue, OPEN; 30 daily bands).",
    ),
    th.Property(
        "cohort_format",
        th.StringType,
        default="json",
        allowed_values=["json", "csv"],
        description="Result format to request.",
    ),
    th.Property(
        "cohort_record_limit",
        th.IntegerType(minimum=1),
        default=catalog.RECORD_LIMIT,
        description="`limit` sent with every cohort query (Branch's own default is 100 rows). A window whose result "
        "reaches it is split in half and asked again.",
    ),
    th.Property(
        "cohort_max_concurrent_jobs",
        th.IntegerType(minimum=1),
        default=5,
        description="Cohort jobs submitted before polling.",
    ),
    th.Property(
        "cohort_job_timeout",
        th.NumberType(exclusive_minimum=0),
        default=3600,
        description="Seconds a cohort job may take before the run fails.",
    ),
    th.Property(
        "cohort_poll_interval",
        th.NumberType(exclusive_minimum=0),
        default=5,
        description="Seconds before a cohort job's first poll; each further wait grows by half.",
    ),
    th.Property(
        "cohort_poll_max_interval",
        th.NumberType(exclusive_minimum=0),
        default=60,
        description="Longest wait between polls of one cohort job.",
    ),
    *limit_settings(
        "cohort",
        DEFAULT_RATE_LIMITS,
        limits="Client-side limits for the cohort API, all enforced at once. Default: {defaults}.",
        margin="Seconds added to every cohort rate-limit window (besides 0.1% of it), for "
        "clock differences between Branch's servers. A time-scaled sandbox scales it too.",
    ),
]


@dataclasses.dataclass(frozen=True)
class CohortSettings:
    """What the cohort settings ask of a run, read from its config."""

    #: Which id the jobs are scoped by: "organization_id" or "app_id" (`scope_field`).
    scope: str
    #: That id's value, when configured (`scope_param` says what is missing).
    scope_value: str | None
    record_limit: int
    result_format: str
    polling: jobs.Polling
    max_jobs: int

    @classmethod
    def from_config(cls, config: t.Mapping[str, t.Any]) -> CohortSettings:
        scope = scope_field(config)
        value = (
            config.get("organization_id") if scope == "organization_id" else default_app_id(config)
        )
        interval = float(config.get("cohort_poll_interval", 5))
        return cls(
            scope=scope,
            scope_value=str(value) if value else None,
            record_limit=int(config.get("cohort_record_limit") or catalog.RECORD_LIMIT),
            result_format=str(config.get("cohort_format") or "json").lower(),
            polling=jobs.Polling(
                first_wait=interval,
                wait=interval,
                growth=1.5,
                longest_wait=float(config.get("cohort_poll_max_interval") or 60),
                timeout=float(config.get("cohort_job_timeout") or 3600),
            ),
            max_jobs=max(1, int(config.get("cohort_max_concurrent_jobs") or 5)),
        )

    def scope_param(self, stream_name: str) -> dict[str, str]:
        """The query parameter scoping `stream_name`'s jobs; a config error naming both
        settings when neither is set. Checked when a stream syncs, not when it is built."""
        if not self.scope_value:
            raise invalid_setting(
                f"Stream {stream_name} needs setting 'organization_id' or 'app_id': Branch's cohort API is "
                "queried per organization (organization_id) or per app (app_id)."
            )
        return {self.scope: self.scope_value}
