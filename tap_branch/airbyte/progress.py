"""What Airbyte hears about each configured stream during a read: its status and its state.

Airbyte's platform follows a sync stream by stream: a TRACE `STREAM_STATUS` says when a
stream is STARTED, RUNNING (its first record), COMPLETE or INCOMPLETE, and every STATE
carries `sourceStats.recordCount`, the records of that stream since its previous STATE
(the platform checks it against what the destination counted). `SyncProgress` keeps both:

- the SDK syncs one top-level stream at a time, its child streams inside it (once per
  parent record); `watch` wraps each stream's public `Stream.sync`, so a stream is
  STARTED when it is first synced and, with the streams under the same top-level stream,
  COMPLETE when that top-level stream's sync returns, after one last STATE of its own
  (also when no bookmark moved, so the platform has every stream's state and record count);
- the record paths count the records they write (`messages.AirbyteEnvelope`);
- a Singer STATE becomes one per-stream STATE for each started configured stream whose
  bookmarks, or whose parents' bookmarks (`state.carriers`), moved, parents first;
- on a failure every configured stream not COMPLETE is INCOMPLETE, and `incomplete`
  names the configured stream the failure belongs to (for the error's stream descriptor).
"""

from __future__ import annotations

import copy
import typing as t

from airbyte_protocol.models import (
    AirbyteMessage,
    AirbyteStateMessage,
    AirbyteStateStats,
    AirbyteStateType,
    AirbyteStreamState,
    AirbyteStreamStatus,
    AirbyteStreamStatusTraceMessage,
    AirbyteTraceMessage,
    StreamDescriptor,
    TraceType,
    Type,
)

from tap_branch.airbyte.messages import line, now_ms
from tap_branch.output.writer import Output

if t.TYPE_CHECKING:
    from singer_sdk import Stream, Tap


class SyncProgress:
    def __init__(
        self,
        configured: t.Sequence[str],
        parents: t.Mapping[str, str],
        carriers: t.Mapping[str, str],
        bookmarks: t.Mapping[str, t.Any],
    ) -> None:
        self.configured = list(configured)
        self.parents = parents
        #: Which configured stream's state carries each stream's bookmarks (`state.carriers`).
        self.carriers = carriers
        #: Each stream's bookmarks as last handed to Airbyte (or received from it); copies,
        #: because the SDK updates its state in place.
        self.sent: dict[str, t.Any] = copy.deepcopy(dict(bookmarks))
        #: Records of each configured stream since its last STATE; a stream is in it from
        #: its first record (or batch of records) on, which is when it is RUNNING.
        self.records: dict[str, int] = {}
        self.status: dict[str, AirbyteStreamStatus] = {}
        #: The stream whose sync raised first (the innermost: a child inside its parent's).
        self.failing: str | None = None
        #: Where STATE and statuses go: the read's output (`AirbyteWriter` sets it), after
        #: the records written before them.
        self.output = Output()

    # -- the streams' syncs ------------------------------------------------------------

    def watch(self, tap: Tap) -> None:
        """Wrap the `sync` of every stream the run will sync (see the module's docstring)."""
        for stream in tap.streams.values():
            if stream.selected or stream.has_selected_descendents:
                stream.sync = self._watched(stream, stream.sync)  # type: ignore[method-assign]

    def _watched(self, stream: Stream, sync: t.Callable[..., None]) -> t.Callable[..., None]:
        def watched_sync(context: t.Any = None) -> None:
            # A parent outside the catalog is read for the stream that carries its state.
            self.start(self.carriers.get(stream.name, stream.name))
            try:
                sync(context=context)
            except BaseException:
                if self.failing is None:
                    self.failing = stream.name
                raise
            if stream.parent_stream_type is None:
                for name in self.configured:
                    if self._root(name) == stream.name:
                        self.complete(name)

        return watched_sync

    def _depth(self, name: str) -> int:
        """How many parent streams `name` has."""
        depth = 0
        while name in self.parents:
            name, depth = self.parents[name], depth + 1
        return depth

    def _root(self, name: str) -> str:
        while name in self.parents:
            name = self.parents[name]
        return name

    # -- statuses ----------------------------------------------------------------------

    def start(self, name: str) -> None:
        if name in self.configured and name not in self.status:
            self._status(name, AirbyteStreamStatus.STARTED)

    def running(self, name: str) -> None:
        """The stream's first records are about to be written."""
        self.start(name)
        self.records.setdefault(name, 0)
        if self.status.get(name) == AirbyteStreamStatus.STARTED:
            self._status(name, AirbyteStreamStatus.RUNNING)

    def complete(self, name: str) -> None:
        """One last STATE of the stream, then COMPLETE."""
        if self.status.get(name) == AirbyteStreamStatus.COMPLETE:
            return
        self.start(name)
        self._state(name)
        self._status(name, AirbyteStreamStatus.COMPLETE)

    def complete_all(self) -> None:
        """The sync ended well: every configured stream is complete (those under a top-level
        stream are already; this covers any the SDK had no reason to sync)."""
        for name in self.configured:
            self.complete(name)

    def incomplete(self) -> str | None:
        """The sync failed: every configured stream not COMPLETE is INCOMPLETE. Returns the
        configured stream the failure belongs to (the failing stream, or for a parent outside
        the catalog, the stream whose state carries its bookmarks), if any."""
        for name in self.configured:
            if self.status.get(name) != AirbyteStreamStatus.COMPLETE:
                self._status(name, AirbyteStreamStatus.INCOMPLETE)
        return self.carriers.get(self.failing) if self.failing else None

    def _status(self, name: str, status: AirbyteStreamStatus) -> None:
        self.status[name] = status
        self.output.write_now(
            line(
                AirbyteMessage(
                    type=Type.TRACE,
                    trace=AirbyteTraceMessage(
                        type=TraceType.STREAM_STATUS,
                        emitted_at=now_ms(),
                        stream_status=AirbyteStreamStatusTraceMessage(
                            stream_descriptor=StreamDescriptor(name=name), status=status
                        ),
                    ),
                )
            )
        )

    # -- records and state -------------------------------------------------------------

    def count(self, name: str, records: int) -> None:
        """`records` more RECORD messages of the stream (the record paths call this)."""
        try:
            self.records[name] += records
        except KeyError:
            self.running(name)
            self.records[name] = records

    def singer_state(self, singer_state: t.Mapping[str, t.Any]) -> None:
        """A Singer STATE: one per-stream STATE for each started configured stream whose
        carried bookmarks moved. A stream not started yet (the SDK sets up the state of
        every stream) says its bookmarks in the STATE it ends with."""
        bookmarks = singer_state.get("bookmarks") or {}
        moved = {
            self.carriers[name]
            for name, value in bookmarks.items()
            if name in self.carriers and self.sent.get(name) != value
        }
        # Parents first: a child's state (a job's rows done) persisted without its parent's
        # (past the job) would have the job's rows read again.
        for carrier in sorted(moved, key=lambda name: (self._depth(name), name)):
            self.sent.update(
                {
                    name: copy.deepcopy(value)
                    for name, value in bookmarks.items()
                    if self.carriers.get(name) == carrier
                }
            )
            if carrier in self.status:
                self._state(carrier)

    def _state(self, carrier: str) -> None:
        carried = {
            name: value for name, value in self.sent.items() if self.carriers.get(name) == carrier
        }
        records = self.records.get(carrier, 0)
        if carrier in self.records:
            self.records[carrier] = 0
        self.output.write_now(
            line(
                AirbyteMessage(
                    type=Type.STATE,
                    state=AirbyteStateMessage(
                        type=AirbyteStateType.STREAM,
                        stream=AirbyteStreamState(
                            stream_descriptor=StreamDescriptor(name=carrier), stream_state=carried
                        ),
                        sourceStats=AirbyteStateStats(recordCount=float(records)),
                    ),
                )
            )
        )
