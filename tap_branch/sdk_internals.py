"""Every use of the Singer SDK's private internals, in one place.

The SDK (0.54) has no public API for what these do; everything else in tap-branch uses its
public API only. When an SDK upgrade changes one of these internals, this module and its
contract test (`tests/test_sdk_internals.py`) break, not the streams.

- `ManualState`: streams whose bookmark moves by whole units (a day, a window, a job), not
  record by record, and that write STATE themselves when a unit is complete.
- `state_manager_of`: a stream's own `StreamStateManager` subclass.
- `log_request_duration`: the SDK's per-request timer metric, for requests the tap sends itself.
"""

from __future__ import annotations

import typing as t

from singer_sdk.streams._state import StreamStateManager

__all__ = ["ManualState", "StreamStateManager", "log_request_duration", "state_manager_of"]


class ManualState:
    """Mixed into the base stream: bookmark per record (the SDK's way) or by hand."""

    #: False: records never move the bookmark; the stream calls `checkpoint` itself.
    bookmarks_per_record: bool = True

    def _increment_stream_state(self, latest_record: dict, *, context: dict | None = None) -> None:
        if self.bookmarks_per_record:
            super()._increment_stream_state(latest_record, context=context)

    def write_state_now(self) -> None:
        """Emit STATE now, with whatever the stream's state holds."""
        self.state_manager.is_flushed = False
        self._write_state_message()


def state_manager_of(stream: t.Any, manager_class: type[StreamStateManager]) -> StreamStateManager:
    """The stream's state manager, made once of `manager_class` (the SDK keeps it privately)."""
    if stream._state_manager is None:
        stream._state_manager = manager_class(
            tap_name=stream.tap_name,
            stream_name=stream.name,
            tap_state=stream.tap_state,
            state_partitioning_keys=stream.state_partitioning_keys,
            is_sorted=stream.is_sorted,
            check_sorted=stream.check_sorted,
        )
    return stream._state_manager


def log_request_duration(
    stream: t.Any, endpoint: str, response: t.Any, context: dict | None
) -> None:
    """The `http_request_duration` metric the SDK writes for the requests it sends itself."""
    stream._write_request_duration_log(
        endpoint=endpoint, response=response, context=context, extra_tags=None
    )
