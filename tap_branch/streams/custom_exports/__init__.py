"""Custom Exports (`/v2/logs`): one opt-in stream per report type, event-level NDJSON files.

`fields` lists the fields each report type requests, `settings` the family's settings,
`readiness` finds the last hour Branch has finished, `jobs` creates an export job and waits
for its files, `stream` walks the windows and emits the rows.
"""

from tap_branch.streams.custom_exports.settings import SETTINGS
from tap_branch.streams.custom_exports.stream import build_streams

__all__ = ["SETTINGS", "build_streams"]
