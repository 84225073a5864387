"""Custom Exports (`/v2/logs`): one opt-in stream per report type, event-level NDJSON files."""

from tap_branch.streams.custom_exports.stream import SETTINGS, build_streams

__all__ = ["SETTINGS", "build_streams"]
