"""The tap's Singer output: msgspec encoding, RECORD lines batched, everything else flushed.

The SDK's writers (`SingerWriter`, `MsgSpecWriter`) write and flush stdout for
every message: a system call per record. Here RECORD lines collect in one
process-wide buffer (`OUTPUT`) and go to stdout in ~1 MiB writes. Any other
message (SCHEMA, STATE, ACTIVATE_VERSION, BATCH) first drains that buffer,
then is written and flushed, so a STATE message never reaches the target
before the records it covers. The fast record path in `tap_branch.api.stream`
encodes straight into the same buffer, in the envelope `OUTPUT.envelope` gives
(Singer's RECORD message; tap-branch-airbyte swaps in Airbyte's).
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType

_DRAIN_AT = 1 << 20


class SingerEnvelope:
    """Singer's RECORD message around a record, in the two forms the record paths need:
    a dict to encode (`message`), or the text before and after a record's JSON object
    (`affixes`, for paths that build the JSON lines themselves)."""

    def message(
        self, stream: str, record: dict, time_extracted: str | None, version: int | None
    ) -> dict:
        # The SDK's key order (version before time_extracted): tests/unit/output/test_route_contract.py
        # pins the fast path to the SDK's output byte for byte.
        message = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        if time_extracted is not None:
            message["time_extracted"] = time_extracted
        return message

    def affixes(
        self, stream: str, time_extracted: str | None, version: int | None
    ) -> tuple[str, str]:
        """(text before, text after) a record's JSON object: one whole line, newline included."""
        suffix = ""
        if version is not None:
            suffix += f',"version":{int(version)}'
        if time_extracted is not None:
            suffix += ',"time_extracted":' + msgspec.json.encode(time_extracted).decode()
        prefix = '{"type":"RECORD","stream":' + msgspec.json.encode(stream).decode() + ',"record":'
        return prefix, suffix + "}\n"

    def records_written(self, stream: str, count: int) -> None:
        """The count of records written in lines built with `affixes` (Singer needs none;
        tap-branch-airbyte's envelope counts for its STATE messages)."""


class RecordBatch:
    """Encoded RECORD lines waiting for one large write to stdout."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        #: The message around each record (Singer's unless `records_in` says otherwise).
        self.envelope: t.Any = SingerEnvelope()

    @contextlib.contextmanager
    def records_in(self, envelope: t.Any) -> t.Iterator[None]:
        """Frame the records written meanwhile in another protocol's envelope."""
        previous, self.envelope = self.envelope, envelope
        try:
            yield
        finally:
            self.envelope = previous

    def add_lines(self, lines: bytes | memoryview) -> None:
        """Whole lines at once (a batch of records built as text): written as they are when
        they fill a drain on their own, instead of copied into the buffer first."""
        if len(lines) < _DRAIN_AT:
            self.buffer += lines
            self.line_added()
            return
        self.drain()
        sys.stdout.buffer.write(lines)

    def line_added(self) -> None:
        if len(self.buffer) >= _DRAIN_AT:
            self.drain()

    def drain(self) -> None:
        if self.buffer:
            sys.stdout.buffer.write(self.buffer)
            self.buffer.clear()

    def drain_and_flush(self) -> None:
        self.drain()
        sys.stdout.flush()


OUTPUT = RecordBatch()
atexit.register(OUTPUT.drain_and_flush)


class BufferedMsgSpecWriter(MsgSpecWriter):
    def write_message(self, message) -> None:
        if getattr(message, "type", None) == SingerMessageType.RECORD:
            OUTPUT.buffer += self.format_message(message)
            OUTPUT.line_added()
            return
        OUTPUT.drain()
        sys.stdout.buffer.write(self.format_message(message))
        sys.stdout.flush()
