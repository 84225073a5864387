"""The tap's Singer output: msgspec encoding, RECORD lines batched, everything else flushed.

The SDK's writers (`SingerWriter`, `MsgSpecWriter`) write and flush stdout for
every message: a system call per record. Here RECORD lines collect in one
process-wide buffer (`OUTPUT`) and go to stdout in ~1 MiB writes. Any other
message (SCHEMA, STATE, ACTIVATE_VERSION, BATCH) first drains that buffer,
then is written and flushed, so a STATE message never reaches the target
before the records it covers. The fast record path in `tap_branch.client`
encodes straight into the same buffer.
"""

from __future__ import annotations

import atexit
import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType

_DRAIN_AT = 1 << 20


class RecordBatch:
    """Encoded RECORD lines waiting for one large write to stdout."""

    def __init__(self) -> None:
        self.buffer = bytearray()

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
