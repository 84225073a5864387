"""What a `--state` must hold before any stream reads a bookmark from it.

A hand-edited, truncated or foreign state would otherwise fail deep inside a
stream (`AttributeError: 'list' object has no attribute 'items'`) or, worse,
be read as "no bookmark". The state is checked once, when the tap loads it,
against the shape the SDK writes and each stream's own keys; an error names
the stream, the partition and the key, and what was expected.

A stream declares the keys it keeps beside the SDK's as `state_keys`: a
mapping of key to JSON schema (checked with `jsonschema`). State of a stream
the tap does not know is left alone, as the SDK does.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import typing as t

import jsonschema

from tap_branch import clock
from tap_branch.errors import InvalidStateError

if t.TYPE_CHECKING:
    from singer_sdk import Stream

_EXCERPT = 80
_EARLIEST_ZONE = dt.timedelta(hours=14)  # UTC+14, the first time zone to begin a day
#: JSON schema of an ISO 8601 date or date-time in a stream's `state_keys`.
ISO_MOMENT = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}.*)?$"}


def state_file(file: t.IO[str]) -> dict:
    """The state of a `--state` file, parsed once here and handed to the tap as it is (the
    SDK's own reading fails with a bare JSONDecodeError that names no file)."""
    name = getattr(file, "name", "--state")
    try:
        # Numbers as the SDK's own reading makes them (`load_json`): decimals, not floats.
        state = json.loads(file.read(), parse_float=decimal.Decimal)
    except ValueError as exc:
        raise InvalidStateError(
            f"The state file {name} is not JSON ({exc}). "
            "Fix it, or run without --state to read everything from start_date."
        ) from None
    if not isinstance(state, dict):  # the SDK would take a string as the path of a file
        raise InvalidStateError(
            f"The state file {name} holds {_shown(state)}, not an object with 'bookmarks'. "
            "Fix it, or run without --state to read everything from start_date."
        )
    return state


def check_state(state: t.Any, streams: t.Mapping[str, Stream]) -> None:
    """Raise `InvalidStateError` naming the stream and key when `state` is not a state of this tap."""
    if not isinstance(state, dict):
        raise InvalidStateError(
            f"The state is {_shown(state)}, not an object with 'bookmarks'. Fix or remove the state file."
        )
    if state and "bookmarks" not in state:
        # A whole STATE message, Meltano's {"singer_state": ...}, a typo: read as "no
        # state", every stream would start over from start_date.
        raise InvalidStateError(
            f"The state has no 'bookmarks', only {', '.join(map(repr, sorted(state)))}: not a "
            'state this tap wrote (its form is {"bookmarks": {stream: ...}}). Give the '
            "'value' of the last STATE message, or {} to read everything from start_date."
        )
    bookmarks = state.get("bookmarks", {})
    if not isinstance(bookmarks, dict):
        raise InvalidStateError(
            f"The state's 'bookmarks' is {_shown(bookmarks)}, not an object of streams."
        )
    for name, stream_state in bookmarks.items():
        where = f"stream '{name}'"
        _expect(isinstance(stream_state, dict), where, None, "an object", stream_state)
        stream = streams.get(name)
        if stream is None:
            continue  # not a stream of this tap (any more): the SDK carries it over untouched
        _check_bookmark(stream, stream_state, where)
        partitions = stream_state.get("partitions", [])
        _expect(isinstance(partitions, list), where, "partitions", "a list", partitions)
        for number, partition in enumerate(partitions, 1):
            at = f"{where}, partition {number}"
            _expect(isinstance(partition, dict), at, None, "an object", partition)
            context = partition.get("context")
            _expect(isinstance(context, dict), at, "context", "an object", context)
            _check_bookmark(stream, partition, f"{where}, partition {json.dumps(context)}")


def _check_bookmark(stream: Stream, bookmark: dict, where: str) -> None:
    # null: what a stream synced as FULL_TABLE (no replication key) wrote before 0.1.x fixed it.
    if bookmark.get("replication_key") is not None:
        key = bookmark["replication_key"]
        _expect(isinstance(key, str), where, "replication_key", "a column name", key)
    if bookmark.get("replication_key_value") is not None and stream.replication_key:
        _check_replication_value(stream, bookmark["replication_key_value"], where)
    if "progress_markers" in bookmark:
        markers = bookmark["progress_markers"]
        _expect(isinstance(markers, dict), where, "progress_markers", "an object", markers)
    for key, schema in (getattr(stream, "state_keys", None) or {}).items():
        if bookmark.get(key) is None:
            continue
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft7Validator(schema).iter_errors(bookmark[key])
        )
        if error is not None:
            inside = "".join(f"[{part!r}]" for part in error.absolute_path)
            raise InvalidStateError(
                f"State of {where}: '{key}'{inside} is invalid ({error.message[:200]}). "
                "Fix that key, or remove the stream's state to read it again from start_date."
            )
        for inside, moment in _moments(schema, bookmark[key], f"'{key}'"):
            _refuse_future(moment, where, inside)


def _check_replication_value(stream: Stream, value: t.Any, where: str) -> None:
    prop = stream.schema.get("properties", {}).get(stream.replication_key, {})
    types = prop.get("type", [])
    types = [types] if isinstance(types, str) else types
    if "integer" in types:
        ok = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, str) and value.isdigit()
        )
        _expect(ok, where, "replication_key_value", "an integer", value)
    elif prop.get("format") in ("date", "date-time"):
        _expect(_is_iso_moment(value), where, "replication_key_value", "an ISO 8601 date", value)
        _refuse_future(value, where, "'replication_key_value'")


def _moments(schema: t.Any, value: t.Any, inside: str) -> t.Iterator[tuple[str, str]]:
    """(where, moment) of every value a `state_keys` schema declares an ISO_MOMENT."""
    if not isinstance(schema, dict):
        return
    if schema.get("pattern") == ISO_MOMENT["pattern"] and isinstance(value, str):
        yield inside, value
    elif isinstance(value, dict):
        for name, sub in (schema.get("properties") or {}).items():
            if name in value:
                yield from _moments(sub, value[name], f"{inside}[{name!r}]")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            yield from _moments(schema.get("items"), item, f"{inside}[{number}]")


def _refuse_future(value: str, where: str, key: str) -> None:
    """A bookmark past the tap's clock marks days read that never were: a hand-edited
    state, another machine's clock. Taken as is, every day up to it would be skipped."""
    now = clock.now()
    try:
        moment = clock.parse_moment(value)
    except ValueError:
        raise InvalidStateError(
            f"State: {key} of {where} should be an ISO 8601 date, but is {_shown(value)}. "
            "Fix that key, or remove the stream's state to read it again from start_date."
        ) from None
    # A date alone is a day in some time zone, up to 14 hours ahead of UTC (cohort days are
    # the dashboard's): it is in the future once it has not begun anywhere.
    latest = now + _EARLIEST_ZONE if len(value.strip()) == len("YYYY-MM-DD") else now
    if moment > latest:
        raise InvalidStateError(
            f"State: {key} of {where} is {value}, later than now ({now.isoformat()}): "
            "the days up to it have not been read. Fix that key, or remove the stream's "
            "state to read it again from start_date."
        )


def _is_iso_moment(value: t.Any) -> bool:
    if not isinstance(value, str):
        return False
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _expect(ok: bool, where: str, key: str | None, expected: str, value: t.Any) -> None:
    if ok:
        return
    what = f"'{key}' of {where}" if key else where
    raise InvalidStateError(
        f"State: {what} should be {expected}, but is {_shown(value)}. "
        "Fix that key, or remove the stream's state to read it again from start_date."
    )


def _shown(value: t.Any) -> str:
    """A value in an error: its JSON kind and a short excerpt (states hold no secrets)."""
    if value is None:
        return "null"
    kind = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number"
    )
    text = json.dumps(value, default=str)
    return f"{kind} {text[:_EXCERPT]}{'...' if len(text) > _EXCERPT else ''}"
