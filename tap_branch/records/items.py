"""What a stream's `get_records` yields: records, and checkpoints that follow them.

- a `dict`: one typed record;
- a `Checkpoint`: the records yielded before it complete a unit of the stream (a day, a
  job, a window) or progress inside one; the stream's state moves there
  (`BranchStream.post_process` applies it, in the SDK's own record loop, right after the
  records before it were written).

Neither is a tuple: the SDK's record loop takes a tuple item for the deprecated
(record, child context) pair and unpacks it.
"""

from __future__ import annotations

import dataclasses
import types
import typing as t

_NOTHING: t.Mapping[str, t.Any] = types.MappingProxyType({})


@dataclasses.dataclass(frozen=True, slots=True)
class Checkpoint:
    """The partition's state moves here: `entries` set (None removes one), then the bookmark
    when given.

    `ends_unit` False: progress inside a unit that is worth keeping only where records go
    out as RECORD messages (dropped while the stream writes the unit's batch files, which
    are announced whole). `done`: the unit this completes, for the run's progress log."""

    bookmark: str | None = None
    entries: t.Mapping[str, t.Any] = dataclasses.field(default_factory=lambda: _NOTHING)
    ends_unit: bool = True
    done: str | None = None
