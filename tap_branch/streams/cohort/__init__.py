"""Cohort Export API: one stream per configured cohort report, results of async jobs.

`reports` parses the configured reports, `catalog` is Branch's documented vocabulary
(data sources, dimensions, measures), `results` turns Branch's answers into rows and
`stream` runs the jobs.
"""

from __future__ import annotations

from tap_branch.config.probes import Probe
from tap_branch.streams.cohort.cache import CohortCache as Cache
from tap_branch.streams.cohort.settings import SETTINGS
from tap_branch.streams.cohort.stream import build_streams

__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]


def check_settings(config, streams: list) -> None:
    """'organization_id' or 'app_id': every cohort query is scoped by one."""
    for stream in streams:
        stream.scope_param  # noqa: B018 - raises naming both settings


def probes(tap, streams: list, *, first_run: bool) -> list[Probe]:
    """None: the Cohort Export API has no read-only call (a job is created, then polled), so
    a report's first job is the check of 'access_token'; the connection test creates none."""
    return []


def idle_reasons(tap, streams: list) -> list[str]:
    return []
