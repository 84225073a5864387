"""Airbyte per-stream state in, Singer bookmarks out, and back.

tap-branch-airbyte emits one STREAM state per stream of the configured catalog.
Its `stream_state` maps Singer stream names to their bookmarks (the tap's
`{"bookmarks": {name: ...}}`): the stream's own, and those of its parent streams
that are not in the catalog, since they decide which of its rows are new (the
rows of a scheduled export job follow the job's bookmark) and Airbyte keeps
state only for the streams of its catalog. Reading the state back merges these
maps; the streams check their bookmarks as they check any Singer state. GLOBAL
and LEGACY states are not ours and are refused, naming the file.
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
        carried = message.stream.stream_state.model_dump() if message.stream.stream_state else {}
        for name, stream_bookmarks in carried.items():
            if not isinstance(stream_bookmarks, dict):
                raise InputError(
                    f"--state {path}: the state of stream {descriptor.name} is not what "
                    "tap-branch-airbyte emits ({stream name: bookmarks})."
                )
            if name not in reset:
                bookmarks[name] = stream_bookmarks
    return bookmarks


def carriers(parents: t.Mapping[str, str], configured: t.Collection[str]) -> dict[str, str]:
    """{Singer stream: the configured stream whose Airbyte state carries its bookmarks}:
    itself, or for a parent not in the catalog, its (first) configured descendant."""
    carrier = {name: name for name in configured}
    for name in configured:
        parent = parents.get(name)
        while parent is not None and parent not in configured:
            carrier.setdefault(parent, name)
            parent = parents.get(parent)
    return carrier
