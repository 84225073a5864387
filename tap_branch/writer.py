"""The tap's Singer message writer: msgspec encoding, one flush per non-RECORD message.

The SDK's writers (`SingerWriter`, `MsgSpecWriter`) flush stdout after every
message, which costs a system call per record. RECORD lines here stay in
stdout's buffer; every SCHEMA, STATE or other message flushes it, so a STATE
message never reaches the target before the records it covers. The fast record
path in `tap_branch.client` writes to the same buffer.
"""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib.encoding.base import SingerMessageType


class BufferedMsgSpecWriter(MsgSpecWriter):
    def write_message(self, message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if getattr(message, "type", None) != SingerMessageType.RECORD:
            sys.stdout.flush()
