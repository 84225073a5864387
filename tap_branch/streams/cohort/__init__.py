"""Cohort Export API: one stream per configured cohort report, results of async jobs.

`reports` parses the configured reports, `catalog` is Branch's documented vocabulary
(data sources, dimensions, measures), `results` turns Branch's answers into rows and
`stream` runs the jobs.
"""

from tap_branch.streams.cohort.stream import SETTINGS, build_streams

__all__ = ["SETTINGS", "build_streams"]
