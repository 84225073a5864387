"""What a `--catalog` must be before any stream reads with it.

The SDK takes a catalog's streams by id and sends each selected stream's SCHEMA from the
catalog, while the tap types its records by its own schema. A catalog that names streams the
tap does not have (a renamed stream, an old catalog), that selects nothing, or whose schema of
a selected stream differs from the tap's (a catalog from an older version, a Meltano `schema`
override) would run "successfully" reading nothing, or emit records that fail their SCHEMA.
Each is refused naming the streams and properties. Deselecting properties is the catalog's
to do (metadata); retyping them is not.
"""

from __future__ import annotations

import decimal
import json
import typing as t

import msgspec
from singer_sdk.singerlib import Catalog

from tap_branch.errors import InvalidCatalogError

if t.TYPE_CHECKING:
    from singer_sdk import Stream

#: Schema keywords that describe and do not constrain: a catalog may differ in them.
_ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "examples",
        "default",
        "$comment",
        "deprecated",
        "readOnly",
        "writeOnly",
    }
)
_BY_NAME = frozenset({"properties", "patternProperties", "definitions", "$defs"})
REDISCOVER = (
    "Run discovery again for the current catalog (`tap-branch --discover`; Meltano: "
    "`meltano run --refresh-catalog ...`, and drop any `schema` extra that retypes them)."
)


def catalog_file(file: t.IO[str]) -> Catalog:
    """The Singer catalog of a `--catalog` file, parsed once here and handed to the tap as it
    is (the SDK's own reading fails with a bare decoding or key error that names no file),
    but for the entries of deselected streams (`deselected_without_fields`)."""
    name = getattr(file, "name", "--catalog")
    text = file.read()
    catalog = _stream_by_stream(text)
    if catalog is None:
        try:
            # Numbers as the SDK's own reading makes them (`load_json`): decimals, not floats.
            catalog = json.loads(text, parse_float=decimal.Decimal)
        except ValueError as exc:
            raise InvalidCatalogError(f"The catalog file {name} is not JSON ({exc}).") from None
    if not isinstance(catalog, dict):
        raise InvalidCatalogError(
            f"The catalog file {name} holds a JSON {type(catalog).__name__}, not a Singer "
            'catalog ({"streams": [...]}).'
        )
    try:
        return Catalog.from_dict(catalog)
    except Exception as exc:  # noqa: BLE001 - whatever the SDK trips on, the file is named
        raise InvalidCatalogError(
            f"The catalog file {name} is not a Singer catalog ({type(exc).__name__}: {exc})."
        ) from None


class _Streams(msgspec.Struct):
    """A catalog's streams, each entry kept as its JSON text until it is read."""

    streams: list[msgspec.Raw]


def _stream_by_stream(text: str) -> dict[str, t.Any] | None:
    """The catalog's `{"streams": [...]}`, its entries read one at a time: a catalog of every
    stream is ~1.2 MB of JSON, ~9 MB as Python objects at once, and what was freed of them
    stayed in Python's memory for the whole run (~8.5 MB at the tap's start). None
    where the text is not such a catalog: the whole reading then names what is wrong."""
    try:
        entries = msgspec.json.decode(text, type=_Streams).streams
        return {
            "streams": [
                deselected_without_fields(json.loads(bytes(entry), parse_float=decimal.Decimal))
                for entry in entries
            ]
        }
    except (msgspec.DecodeError, ValueError):
        return None


def deselected_without_fields(entry: t.Any) -> t.Any:
    """The entry of a stream deselected at its root (`selected: false`) without its schema and
    its fields' metadata: no record of it is read, and a stream whose entry has no schema
    keeps its own (`BranchStream.effective_schema`, `TapBranch.setup_mapper`). A stream
    deselected in a catalog is still read as the parent of a selected one, with its own
    schema; `--test schema` sends every stream's whole schema for these."""
    if not isinstance(entry, dict) or not isinstance(entry.get("metadata"), list):
        return entry
    roots = [item for item in entry["metadata"] if _breadcrumb(item) == []]
    if len(roots) != 1 or not isinstance(roots[0].get("metadata"), dict):
        return entry
    if roots[0]["metadata"].get("selected") is not False:
        return entry
    return {**entry, "schema": {}, "metadata": roots}


def _breadcrumb(item: t.Any) -> t.Any:
    return item.get("breadcrumb") if isinstance(item, dict) else None


def refuse_unknown_streams(named: t.Iterable[str], known: t.Collection[str], hint: str) -> None:
    """Fail naming the streams a catalog names that the tap does not have."""
    unknown = sorted(set(named) - set(known))
    if unknown:
        raise InvalidCatalogError(
            f"The catalog names streams tap-branch does not have: {', '.join(unknown)}. {hint}"
        )


def check_catalog(catalog: Catalog, streams: t.Mapping[str, Stream]) -> None:
    """Refuse a catalog with unknown streams, none selected, or a selected stream's schema
    that is not the tap's."""
    refuse_unknown_streams((entry.tap_stream_id for entry in catalog.streams), streams, REDISCOVER)
    selected = [stream for stream in streams.values() if stream.selected]
    if not selected:
        raise InvalidCatalogError(
            "The catalog selects no stream: nothing would be read. Select the streams to read "
            "(metadata `selected: true`; Meltano: `meltano select tap-branch <stream> '*'`)."
        )
    for stream in selected:
        differing = schema_differences(stream.schema, stream.effective_schema)
        if differing:
            raise InvalidCatalogError(
                f"The catalog's schema of stream '{stream.name}' is not tap-branch's for "
                f"properties {', '.join(differing)}: its records would not match the SCHEMA "
                f"sent for them. {REDISCOVER}"
            )


def schema_differences(own: t.Mapping[str, t.Any], given: t.Mapping[str, t.Any]) -> list[str]:
    """The top-level properties whose type or shape differ between two schemas of a stream
    (missing from one of them included), descriptions aside."""
    ours, theirs = own.get("properties") or {}, given.get("properties") or {}
    return sorted(
        name
        for name in set(ours) | set(theirs)
        if _shape(ours.get(name)) != _shape(theirs.get(name))
    )


def _shape(schema: t.Any) -> t.Any:
    """A schema without its annotations, its `type` lists in one order."""
    if isinstance(schema, list):
        return [_shape(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    shape: dict[str, t.Any] = {}
    for key, value in schema.items():
        if key in _ANNOTATIONS:
            continue
        if key in _BY_NAME and isinstance(value, dict):  # names of properties, not keywords
            shape[key] = {name: _shape(item) for name, item in value.items()}
        else:
            shape[key] = _shape(value)
    if isinstance(shape.get("type"), (str, list)):
        kinds = shape["type"]
        shape["type"] = sorted([kinds] if isinstance(kinds, str) else kinds)
    return shape
