"""Where a stream's records go, one attribute (`BranchStream.route`) read here only.

- `RECORDS`: RECORD messages on stdout. Lines built a batch of rows at a time carry the
  output's RECORD envelope; the columnar reader keeps little in flight (`LEAN`); a
  `Checkpoint` writes STATE at once, after the records before it (the output drains first).
- `BATCH_FILES`: batch files (`BranchStream.get_batches`). Lines are plain JSON lines; the
  reader runs ahead (`FAST`); a `Checkpoint` moves the state without writing it: the SDK
  writes STATE after the BATCH message announcing the files that hold the unit's records.
  Progress inside a unit (`ends_unit` False) is dropped: the unit's files are announced
  whole, or read again.
"""

from __future__ import annotations

import dataclasses
import typing as t

from tap_branch.files.csv_batches import Pace, pace_for
from tap_branch.output.progress import progress_of
from tap_branch.records.items import JSON_LINES, Checkpoint


@dataclasses.dataclass(frozen=True)
class Route:
    name: str
    batch_files: bool

    @property
    def pace(self) -> Pace:
        """How much of a file the columnar reader keeps in flight."""
        return pace_for(self.batch_files)

    def affixes(self, stream: t.Any) -> tuple[str, str]:
        """The text around each record's JSON in lines built a batch of rows at a time (asked
        as each batch is handed to be typed)."""
        if self.batch_files:
            return JSON_LINES
        return stream.record_affixes()

    def apply(self, stream: t.Any, context: dict | None, checkpoint: Checkpoint) -> None:
        """The partition's state moves to `checkpoint`: `entries` (None removes one), then
        the bookmark when given. The one place a stream that bookmarks by hand
        (`bookmarks_per_record = False`) changes its state."""
        if self.batch_files and not checkpoint.ends_unit:
            return
        state = stream.get_context_state(context)
        for key, value in checkpoint.entries.items():
            if value is None:
                state.pop(key, None)
            else:
                state[key] = value
        if checkpoint.bookmark is not None:
            if stream.replication_key:  # none when the catalog forces FULL_TABLE: never a null
                state["replication_key"] = stream.replication_key
            state["replication_key_value"] = checkpoint.bookmark
        if self.batch_files:
            stream.unit_complete()
        else:
            stream.write_state_now()
        if checkpoint.done is not None:
            progress_of(stream).unit_done(stream.name, checkpoint.done)


RECORDS = Route("records", batch_files=False)
BATCH_FILES = Route("batch files", batch_files=True)
