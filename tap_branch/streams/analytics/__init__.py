"""Aggregate analytics: Branch's Query API as streams `query_<name>` and its Aggregate
Exports as streams `aggregate_<name>`, one per configured report (docs/families/analytics.md).

`catalog` is Branch's documented vocabulary, `reports` the configured reports, `zones` the
apps' dashboard time zones, `query` the Query API streams, `aggregate` the Aggregate Exports
streams (jobs, on the Query streams' records and bookmarks).
"""

from tap_branch.streams.analytics import aggregate, query, zones
from tap_branch.streams.analytics.cache import AnalyticsCache as Cache
from tap_branch.streams.analytics.query import probes

SETTINGS = [*query.SETTINGS, *aggregate.SETTINGS]


def build_streams(tap) -> list:
    return [*query.build_streams(tap), *aggregate.build_streams(tap)]


def check_settings(config, streams: list) -> None:
    """The apps' time zones (also checked when the streams are built: a report's days are
    the app's)."""
    zones.check_zones(config)


def idle_reasons(tap, streams: list) -> list[str]:
    return []  # a report reads whatever Branch counts, zero rows included


__all__ = ["SETTINGS", "Cache", "build_streams", "check_settings", "idle_reasons", "probes"]
