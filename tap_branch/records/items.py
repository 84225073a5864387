"""What a stream's `get_records` yields: records, and checkpoints that follow them.

- a `dict`: one typed record;
- a `RowBatch`: a batch of a file's rows typed a column at a time
  (`tap_branch.records.columnar`), its records not built as dicts: the SDK's record loop
  hands it to the output as RECORD lines, `get_batches` to the batch files;
- a `Checkpoint`: the records yielded before it complete a unit of the stream (a day, a
  job, a window) or progress inside one; the stream's state moves there
  (`BranchStream.post_process` applies it, in the SDK's own record loop, right after the
  records before it were written).

Neither is a tuple: the SDK's record loop takes a tuple item for the deprecated
(record, child context) pair and unpacks it.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import types
import typing as t

import msgspec

from tap_branch.records.columnar import encode

if t.TYPE_CHECKING:
    import pyarrow as pa

#: The text around each record in a batch file: JSON lines.
JSON_LINES = ("", "\n")


class LineTyper(t.Protocol):
    """What types a batch of rows into lines (`tap_branch.records.columnar.typer.ColumnarTyper`)."""

    def lines(self, batch: pa.RecordBatch, before: str, after: str) -> pa.Array: ...


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


@dataclasses.dataclass(frozen=True, slots=True)
class RowBatch:
    """A batch of a file's rows and the typer of that file: records not yet written, as
    lines with `affixes` around each record's JSON. `typed`: those lines, when they were
    built ahead (`typed_ahead`)."""

    typer: LineTyper
    batch: pa.RecordBatch
    typed: concurrent.futures.Future | None = None
    affixes: tuple[str, str] = JSON_LINES

    @property
    def count(self) -> int:
        return self.batch.num_rows

    def line_array(self) -> pa.Array:
        """Each record's line, one array item per record."""
        if self.typed is None:
            return self.typer.lines(self.batch, *self.affixes)
        return self.typed.result()

    def lines(self) -> memoryview:
        """Every record's line, one after the other (a view of the text, not a copy: it is
        copied once, where it is written)."""
        return encode.text_view(self.line_array())

    def records(self) -> list[dict]:
        """The records as dicts, for paths that need them."""
        lines = (
            self
            if self.affixes == JSON_LINES
            else dataclasses.replace(self, typed=None, affixes=JSON_LINES)
        )
        return _LINES_DECODER.decode_lines(lines.lines())


_LINES_DECODER = msgspec.json.Decoder(dict)
