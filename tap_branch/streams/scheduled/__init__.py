"""Scheduled log exports: the jobs of each subscription and the rows of their files.

`api` speaks Branch's subscriptions/jobs API, `files` reads a job's files (csv, json, parquet),
`streams` holds the parent (jobs) and child (rows) streams.
"""

from tap_branch.streams.scheduled.streams import SETTINGS, build_streams

__all__ = ["SETTINGS", "build_streams"]
