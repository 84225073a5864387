"""What tap-branch-airbyte writes on stdout: Airbyte messages, one JSON object a line.

Every message is built and serialised by the Airbyte protocol models
(`airbyte-protocol-models-pdv2`), except RECORD: the tap's record paths encode
records straight into the batch of the writer's output (`tap_branch.output.writer.Output`)
in the envelope it holds, so `AirbyteEnvelope` shapes a RECORD by hand with the fields
of `AirbyteRecordMessage` (`tests/e2e/airbyte/test_protocol.py` pins both of its
forms to the model's own output). Records wait in the batch; every other message
drains it first, so a STATE never overtakes the records it covers.

The envelope also counts the records it frames for the read's `SyncProgress`
(`progress`: stream statuses, `sourceStats` of each STATE): one per `message`,
and for lines built a batch at a time, the count the record path reports with
`records_written`. `AirbyteWriter` owns the read's output and takes the SDK's Singer messages: SCHEMA and
ACTIVATE_VERSION have no Airbyte counterpart (the catalog carries the schemas)
and are dropped, records of the SDK's own record path are shaped by the output's
envelope, and each Singer STATE goes to `SyncProgress`. `LogHandler` turns log
records into LOG messages, except the SDK's METRIC lines (Airbyte counts records
and requests on its side; they were half of a read's log).
"""

from __future__ import annotations

import logging
import time
import typing as t

import msgspec
from airbyte_protocol.models import (
    AirbyteLogMessage,
    AirbyteMessage,
    Level,
    Type,
)
from singer_sdk.metrics import METRICS_LOGGER_NAME
from singer_sdk.singerlib.encoding.base import GenericSingerWriter, SingerMessageType

from tap_branch.output.writer import Output, write_through


class SyncProgress(t.Protocol):
    """What the read's messages tell its progress (`tap_branch.airbyte.progress.SyncProgress`,
    which builds its messages with this module: typed here by what it does, so the two
    modules import one way)."""

    output: Output

    def running(self, name: str) -> None: ...

    def count(self, name: str, records: int) -> None: ...

    def singer_state(self, singer_state: t.Mapping[str, t.Any]) -> None: ...


_encoder = msgspec.json.Encoder(
    enc_hook=lambda obj: obj.isoformat() if hasattr(obj, "isoformat") else str(obj)
)


def line(message: AirbyteMessage) -> bytes:
    """One message as its line on stdout."""
    return message.model_dump_json(exclude_none=True, by_alias=True).encode() + b"\n"


def write(message: AirbyteMessage) -> None:
    """One message written at once: outside a read (spec, check, discover, an error after
    the read's output was closed)."""
    write_through(line(message))


class AirbyteEnvelope:
    """Airbyte's RECORD message around a record, in the two forms of `SingerEnvelope`
    (`tap_branch.output.writer`): a dict to encode, or the text around a record's JSON object;
    counting the records for `progress` when there is one."""

    def __init__(self, progress: SyncProgress | None = None) -> None:
        self.progress = progress
        #: `records_written(stream, count)`: told by the record paths for lines they build.
        self.records_written: t.Callable[[str, int], None] = (
            progress.count if progress is not None else _uncounted
        )

    def message(
        self, stream: str, record: dict, time_extracted: t.Any = None, version: t.Any = None
    ) -> dict:
        self.records_written(stream, 1)
        return {
            "type": "RECORD",
            "record": {"stream": stream, "data": record, "emitted_at": now_ms()},
        }

    def affixes(
        self, stream: str, time_extracted: t.Any = None, version: t.Any = None
    ) -> tuple[str, str]:
        """Asked before each batch of lines: the stream is RUNNING from its first batch on."""
        if self.progress is not None:
            self.progress.running(stream)
        prefix = '{"type":"RECORD","record":{"stream":' + _encoder.encode(stream).decode()
        return prefix + ',"data":', f',"emitted_at":{now_ms()}}}}}\n'


def _uncounted(stream: str, records: int) -> None:
    pass


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class AirbyteWriter(GenericSingerWriter[bytes, t.Any]):
    """The SDK's message writer under tap-branch-airbyte (see the module's docstring)."""

    def __init__(self, progress: SyncProgress) -> None:
        self.progress = progress
        #: The read's output: records framed by Airbyte's envelope, counted for `progress`.
        self.output = Output(AirbyteEnvelope(progress))
        # The read's STATE and statuses go out through it, after the records before them.
        progress.output = self.output

    def serialize_message(self, message: t.Any) -> bytes:
        raise NotImplementedError("tap-branch-airbyte writes Airbyte messages, not Singer lines")

    def write_message(self, message: t.Any) -> None:
        kind = getattr(message, "type", None)
        if kind == SingerMessageType.RECORD:
            shaped = self.output.envelope.message(message.stream, message.record)
            self.output.add_encoded(shaped, _encoder)
        elif kind == SingerMessageType.STATE:
            self.progress.singer_state(message.value)
        elif kind == SingerMessageType.BATCH:
            raise RuntimeError("BATCH messages have no Airbyte counterpart")
        # SCHEMA and ACTIVATE_VERSION: nothing to say in Airbyte's protocol.


_LEVELS = {
    logging.CRITICAL: Level.FATAL,
    logging.ERROR: Level.ERROR,
    logging.WARNING: Level.WARN,
    logging.INFO: Level.INFO,
    logging.DEBUG: Level.DEBUG,
}


class LogHandler(logging.Handler):
    """Log records as Airbyte LOG messages on stdout.

    Written in one call and without draining the record batch: a helper thread
    (downloads) may log while the main thread fills the batch, and Airbyte
    does not need log lines in order with records.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == METRICS_LOGGER_NAME:
            return
        try:
            if record.exc_info and not record.exc_text:
                record.exc_text = logging.Formatter().formatException(record.exc_info)
            message = AirbyteMessage(
                type=Type.LOG,
                log=AirbyteLogMessage(
                    level=_LEVELS.get(record.levelno, Level.INFO),
                    message=f"{record.name}: {record.getMessage()}",
                    stack_trace=record.exc_text or None,
                ),
            )
            write_through(message.model_dump_json(exclude_none=True).encode() + b"\n")
        except Exception:  # noqa: BLE001 - logging must never break the sync
            self.handleError(record)
