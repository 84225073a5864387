"""Aggregate analytics: Branch's Query API as streams `query_<name>`, one per configured
report (docs/aggregate-analytics.md).

`catalog` is Branch's documented vocabulary, `reports` the configured reports, `zones` the
apps' dashboard time zones, `query` the Query API streams.
"""

from tap_branch.streams.analytics.query import SETTINGS, build_streams, probe

__all__ = ["SETTINGS", "build_streams", "probe"]
