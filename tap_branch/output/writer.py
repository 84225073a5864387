"""The tap's output: msgspec encoding, RECORD lines batched, everything else flushed.

The SDK's writers (`SingerWriter`, `MsgSpecWriter`) write and flush stdout for
every message: a system call per record. Here RECORD lines collect in the buffer
of the message writer's `Output` and go to stdout in ~1 MiB writes. Any other
message (SCHEMA, STATE, ACTIVATE_VERSION, BATCH) first drains that buffer,
then is written and flushed, so a STATE message never reaches the target
before the records it covers. The fast record paths (`tap_branch.output.sdk_internals`)
encode straight into the same buffer, in the envelope the output holds
(Singer's RECORD message; tap-branch-airbyte's writer has an output of Airbyte's).
This module and `sdk_internals` are the only ones that write stdout.
"""

from __future__ import annotations

import os
import sys
import typing as t

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.singerlib.encoding.base import SingerMessageType

_DRAIN_AT = 1 << 20
# The SDK's own record encoding (`MsgSpecWriter`): same hook, decimals as numbers.
_ENCODER = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


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


def write_through(data: bytes, stdout: t.BinaryIO | None = None) -> None:
    """Bytes written and flushed at once, beside any output's batch (log lines, and messages
    written outside a sync: an Airbyte spec, catalog or error)."""
    out = stdout or sys.stdout.buffer
    out.write(data)
    out.flush()


def closed_by_reader() -> None:
    """stdout, which the reader closed (a broken pipe), pointed at /dev/null: the records
    still batched and the interpreter's last flush go nowhere instead of failing again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class Output:
    """One writer's output: RECORD lines batched for large writes to stdout, every other
    message written at once after them.

    Each message writer owns one (`SingerOutputWriter`, the Airbyte source's writer), and
    the streams of its tap reach it as `BranchStream.output`. `envelope` frames the records
    (Singer's RECORD message, or Airbyte's). `stdout` defaults to the process's stdout at
    the time of each write (tests redirect it). `close` at the end of a run, failed or not
    (`TapBranch.after_sync`), writes the records still waiting."""

    def __init__(self, envelope: t.Any = None, stdout: t.BinaryIO | None = None) -> None:
        self.buffer = bytearray()
        #: The message around each record (Singer's unless the writer says otherwise).
        self.envelope: t.Any = envelope if envelope is not None else SingerEnvelope()
        self._stdout = stdout

    @property
    def stdout(self) -> t.BinaryIO:
        return self._stdout or sys.stdout.buffer

    def add_encoded(self, message: t.Any, encoder: msgspec.json.Encoder | None = None) -> None:
        """A message encoded into the batch, one line (`encoder`: default the SDK's)."""
        buffer = self.buffer
        (encoder or _ENCODER).encode_into(message, buffer, len(buffer))
        buffer += b"\n"
        self.line_added()

    def add_lines(self, lines: bytes | memoryview) -> None:
        """Whole lines at once (a batch of records built as text): written as they are when
        they fill a drain on their own, instead of copied into the buffer first."""
        if len(lines) < _DRAIN_AT:
            self.buffer += lines
            self.line_added()
            return
        self.drain()
        self.stdout.write(lines)

    def line_added(self) -> None:
        if len(self.buffer) >= _DRAIN_AT:
            self.drain()

    def write_now(self, data: bytes) -> None:
        """A message that must not wait: after the records before it, then flushed."""
        self.drain()
        write_through(data, self.stdout)

    def drain(self) -> None:
        if self.buffer:
            self.stdout.write(self.buffer)
            self.buffer.clear()

    def close(self) -> None:
        """The records still waiting written, and stdout flushed (the output stays usable)."""
        self.drain()
        self.stdout.flush()


class SingerOutputWriter(MsgSpecWriter):
    """The tap's message writer: the SDK's msgspec encoding, RECORD lines into its `output`'s
    batch, every other message written after them and flushed."""

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.output = Output(SingerEnvelope())

    def write_message(self, message) -> None:
        if getattr(message, "type", None) == SingerMessageType.RECORD:
            self.output.buffer += self.format_message(message)
            self.output.line_added()
            return
        self.output.write_now(self.format_message(message))
