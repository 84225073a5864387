"""The tap's Singer output: msgspec encoding, RECORD lines batched, everything else flushed.

The SDK's writers (`SingerWriter`, `MsgSpecWriter`) write and flush stdout for
every message: a system call per record. Here RECORD lines collect in one
process-wide buffer (`OUTPUT`) and go to stdout in ~1 MiB writes. Any other
message (SCHEMA, STATE, ACTIVATE_VERSION, BATCH) first drains that buffer,
then is written and flushed, so a STATE message never reaches the target
before the records it covers. The fast record path in `tap_branch.client`
encodes straight into the same buffer, in the shape `OUTPUT.envelope` gives
(Singer's RECORD; tap-branch-airbyte swaps in Airbyte's).
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType

_DRAIN_AT = 1 << 20


def singer_record(
    stream: str, record: dict, time_extracted: str | None, version: int | None
) -> dict:
    """A Singer RECORD message (as a dict to encode)."""
    message = {"type": "RECORD", "stream": stream, "record": record}
    if time_extracted is not None:
        message["time_extracted"] = time_extracted
    if version is not None:
        message["version"] = version
    return message


class RecordBatch:
    """Encoded RECORD lines waiting for one large write to stdout."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        #: How the fast record path shapes a record into a message.
        self.envelope: t.Callable[[str, dict, str | None, int | None], dict] = singer_record

    @contextlib.contextmanager
    def records_shaped_by(self, envelope: t.Callable[..., dict]) -> t.Iterator[None]:
        previous, self.envelope = self.envelope, envelope
        try:
            yield
        finally:
            self.envelope = previous

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
