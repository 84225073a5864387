"""Airbyte per-stream state in, Singer bookmarks out, and back.

tap-branch-airbyte emits one STREAM state per stream, its `stream_state` being
exactly that stream's Singer bookmarks (`{"bookmarks": {name: ...}}` of the
tap). Reading the state back is the inverse: every STREAM state becomes the
bookmarks of its stream, checked by the streams themselves as any Singer state
is. GLOBAL and LEGACY states are not ours and are refused, naming the file.
"""

from __future__ import annotations

import typing as t

from airbyte_protocol.models import AirbyteStateMessage, AirbyteStateType
from pydantic import ValidationError

from tap_branch.airbyte.inputs import InputError, read_json_file


def read_state(path: str | None) -> list[AirbyteStateMessage]:
    if path is None:
        return []
    data = read_json_file(path, "--state")
    if data in ({}, None):  # "no state", as some platforms write it
        return []
    if not isinstance(data, list):
        raise InputError(
            f"--state {path}: expected a JSON list of Airbyte state messages (per-stream state), "
            f"got a {type(data).__name__}."
        )
    try:
        return [AirbyteStateMessage.model_validate(item) for item in data]
    except ValidationError as exc:
        raise InputError(f"--state {path}: not a list of Airbyte state messages: {exc}") from None


def singer_bookmarks(
    messages: t.Iterable[AirbyteStateMessage], *, path: str, reset: t.Container[str] = ()
) -> dict[str, t.Any]:
    """`{stream name: bookmarks}` of the STREAM states, except the streams to `reset`."""
    bookmarks: dict[str, t.Any] = {}
    for message in messages:
        if message.type != AirbyteStateType.STREAM or message.stream is None:
            kind = message.type.value if message.type else "LEGACY"
            raise InputError(
                f"--state {path}: a {kind} state; tap-branch-airbyte reads back only the "
                "per-stream (STREAM) states it emits. Reset the connection's state to start over."
            )
        descriptor = message.stream.stream_descriptor
        if descriptor.namespace:
            raise InputError(
                f"--state {path}: the state of stream {descriptor.name} has namespace "
                f"{descriptor.namespace!r}; tap-branch's streams have none."
            )
        if descriptor.name in reset:
            continue
        blob = message.stream.stream_state
        bookmarks[descriptor.name] = blob.model_dump() if blob is not None else {}
    return bookmarks
