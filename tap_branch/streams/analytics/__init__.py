"""Aggregate analytics: Branch's Query API as streams `query_<name>` and its Aggregate
Exports as streams `aggregate_<name>`, one per configured report (docs/aggregate-analytics.md).

`catalog` is Branch's documented vocabulary, `reports` the configured reports, `zones` the
apps' dashboard time zones, `query` the Query API streams, `aggregate` the Aggregate Exports
streams (jobs, on the Query streams' records and bookmarks).
"""

from tap_branch.streams.analytics import aggregate, query
from tap_branch.streams.analytics.query import probes

SETTINGS = [*query.SETTINGS, *aggregate.SETTINGS]


def build_streams(tap) -> list:
    return [*query.build_streams(tap), *aggregate.build_streams(tap)]


def idle_reasons(tap, streams: list) -> list[str]:
    return []  # a report reads whatever Branch counts, zero rows included


__all__ = ["SETTINGS", "build_streams", "idle_reasons", "probes"]
